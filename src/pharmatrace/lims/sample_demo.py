"""Demo plant: the demo sampling plans, samples and retained samples (TJ-7.5).

Plans: the pharmacopoeia rule for herbs and decoction pieces (三七 as a precious herb: every package), √n+1
for excipients, extracts and packaging. Sampling: the demo's 三七 lot (under test since receipt, with no
sampling record yet) is sampled for its release test — the test sample received and stored, the retained
sample received, put into the retained-sample room and observed once.

The demo's one quarantined lot (丹参 DS20261020) is left in quarantine on purpose: the warehouse's own
demonstrations (and tests) show a quarantined lot refused at issue. Everything goes through the service.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import samples
from pharmatrace.lims.sample_models import SamplingPlan, SamplingRecord
from pharmatrace.lims.sample_schemas import (
    PlanCreate,
    SampleObserve,
    SampleReceive,
    SampleStore,
    SamplingCreate,
)
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Lot

D = Decimal
SANQI = "SQ20261025"  # the supplier lot of the demo's 三七 (pharmatrace.wms.demo), under test

DEMO_PLANS: tuple[PlanCreate, ...] = (
    PlanCreate(code="SP-HERB", name="中药材取样（药典通则 0211）", material_kind="herb", rule="herb_chp0211",
               quantity_per_container=D("0.2"), retained_per_container=D("0.2"), tool="不锈钢扦样器，洁净干燥"),
    PlanCreate(code="SP-SQ-001", name="三七取样（贵细药材，逐件取样）", material_code="HB-SQ-001",
               rule="herb_chp0211", precious=True, quantity_per_container=D("0.1"),
               retained_per_container=D("0.1"), tool="不锈钢扦样器，洁净干燥"),
    PlanCreate(code="SP-PIECE", name="饮片取样（药典通则 0211）", material_kind="decoction_piece", rule="herb_chp0211",
               quantity_per_container=D("0.1"), retained_per_container=D("0.1"), tool="不锈钢取样勺"),
    PlanCreate(code="SP-EXC", name="辅料取样（√n+1）", material_kind="excipient", rule="sqrt_n_plus_1",
               quantity_per_container=D("0.05"), retained_per_container=D("0.05"),
               tool="已灭菌不锈钢取样勺，A级层流取样车"),
    PlanCreate(code="SP-EXT", name="提取物取样（√n+1）", material_kind="extract", rule="sqrt_n_plus_1",
               quantity_per_container=D("0.05"), retained_per_container=D("0.05"), tool="已灭菌取样勺",
               storage_condition="2–8 °C 冷藏，密封"),
    PlanCreate(code="SP-PACK", name="内包材取样（√n+1）", material_kind="primary_packaging", rule="sqrt_n_plus_1",
               quantity_per_container=D("20"), retained_per_container=D("10"), tool="洁净取样袋"),
)  # fmt: skip


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None
        return identity.principal_of(user)


def seed_samples(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    qc = _principal(db, "wangfang")
    added = 0
    with UnitOfWork(db, qc.actor, reason="demo plant seed: sampling plans") as uow:
        codes = set(uow.session.scalars(select(SamplingPlan.code)))
        for plan in DEMO_PLANS:
            if plan.code not in codes:
                samples.create_plan(uow, qc, plan)
                added += 1
        uow.commit()
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(SamplingRecord)):
            return added
        lot = session.scalar(select(Lot).where(Lot.supplier_lot == SANQI))
        if lot is None or lot.status != "under_test":
            return added
        lot_number = lot.lot_number
    with UnitOfWork(db, qc.actor) as uow:
        record = samples.record_sampling(uow, qc, SamplingCreate(
            lot=lot_number, purpose="release_test", place="取样间（WH-RM-SMP）", conditions="18 °C，RH 52 %",
            remarks="逐件取样，混合为检验样品；留样单独封装",
        ))  # fmt: skip
        made = {s.kind: s.code for s in samples.samples_of_record(uow.session, record.id)}
        uow.commit()
    steps = [
        ("receive", made["test"], SampleReceive(quantity=D("0.4"), condition="封口完好，标签清晰")),
        ("store", made["test"], SampleStore(location="QC 样品室 样品柜 2", conditions="阴凉（≤20 °C），避光")),
        ("receive", made["retained"], SampleReceive(quantity=D("0.4"), condition="封口完好，标签清晰")),
        ("retain", made["retained"], SampleStore(location="留样室（QC-RS）留样柜 A-03",
                                                 conditions="阴凉干燥，≤20 °C，相对湿度 ≤65 %")),
        ("observe", made["retained"], SampleObserve(observation="外观、色泽、气味无变化，包装完好")),
    ]  # fmt: skip
    for name, code, body in steps:
        with UnitOfWork(db, qc.actor) as uow:
            getattr(samples, name)(uow, qc, code, body)
            uow.commit()
    return added + 1 + len(made)
