"""Shared steps of the sampling and sample tests: the demo plant's lots sampled by the QC analyst."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from helpers import LOGIN_BY_ROLE, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import samples
from pharmatrace.lims.sample_models import Sample, SampleEvent, SamplingRecord
from pharmatrace.lims.sample_schemas import SampleDisposal, SamplingCreate
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot
from pharmatrace.wms.stock_models import StockBalance, StockMovement

QC = LOGIN_BY_ROLE["qc_analyst"]  # wangfang: lims.sample.manage
QC_REVIEWER = LOGIN_BY_ROLE["qc_reviewer"]  # sunli: reads samples, does not sample
OPERATOR = LOGIN_BY_ROLE["production_operator"]
QUARANTINED = "DS20261020"  # 丹参, 3 containers of 25 kg in the quarantine area (herb rule: every container)
MANNITOL = "MN2610-118"  # 甘露醇, under test, 5 containers of 25 kg (√n+1: 4 of 5)
REJECTED = "GL261002"  # vials, rejected
D = Decimal


def lot(db: Database, supplier_lot: str) -> Lot:
    with db.sessions() as session:
        found = session.scalars(select(Lot).where(Lot.supplier_lot == supplier_lot)).unique().one()
        _ = found.containers, found.material
        session.expunge_all()
        return found


def sample_lot(db: Database, supplier_lot: str, login: str = QC, **fields: Any) -> SamplingRecord:
    """Sample the lot by its plan; returns the record (detached, containers loaded)."""
    values: dict[str, Any] = {"lot": lot(db, supplier_lot).lot_number, "purpose": "release_test",
                              "place": "取样间（WH-RM-SMP）"}  # fmt: skip
    values.update(fields)
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        record = samples.record_sampling(uow, who, SamplingCreate(**values))
        uow.commit()
        _ = record.containers
        uow.session.expunge_all()
        return record


def samples_of(db: Database, record_id: int) -> dict[str, str]:
    """kind → sample code of a sampling record."""
    with db.sessions() as session:
        return {s.kind: s.code for s in samples.samples_of_record(session, record_id)}


def step(db: Database, name: str, code: str, body: Any, login: str = QC) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        getattr(samples, name)(uow, who, code, body)
        uow.commit()


def state(db: Database, code: str) -> str:
    with db.sessions() as session:
        return samples.state_of(samples.sample_by_code(session, code))


def events(db: Database, code: str) -> list[tuple[int, str, str]]:
    with db.sessions() as session:
        sample = samples.sample_by_code(session, code)
        return [(e.seq, e.event, e.to_state) for e in sample.events]


def disposal(**changes: Any) -> SampleDisposal:
    values: dict[str, Any] = {"method": "焚烧", "site": "危废暂存间", "witness_login": QC_REVIEWER,
                              "witness_password": DEMO_PASSWORD}  # fmt: skip
    values.update(changes)
    return SampleDisposal(**values)


def stock_left(db: Database, supplier_lot: str) -> dict[str, Decimal]:
    with db.sessions() as session:
        found = lot(db, supplier_lot)
        rows = session.execute(
            select(StockBalance.container_id, StockBalance.quantity).where(StockBalance.lot_id == found.id)
        )
        codes = {c.id: c.code for c in found.containers}
        return {codes[cid]: quantity for cid, quantity in rows}


def counts(db: Database) -> tuple[int, int, int, int]:
    """Sampling records, samples, sample events, stock movements: a refusal leaves all four as they were."""
    with db.sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (SamplingRecord, Sample, SampleEvent, StockMovement)
        )


def lot_status(db: Database, supplier_lot: str) -> str:
    return lot(db, supplier_lot).status
