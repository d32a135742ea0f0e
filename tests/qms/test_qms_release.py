"""Batch release by the qualified person (批放行): the checklist computed from the record, the release summary,
release refused while an item fails, segregation of duties, the signed release and rejection, the hand-over to the
warehouse lot and the domain event (TJ-9.1, TJ-6.4.7, TJ-6.4.4, TJ-6.3.4, TJ-7.4).

The seeded plant's completed batch (``mes.history_demo``, e.g. DH2611001, named through ``demo_codes``) handed its
finished product to the warehouse at completion (``mes.handover``); the lot was sampled, tested, reviewed and
certified (``lims.certificate_demo``) and released with the batch by 钱宇 (qianyu, ``qms.release_demo``) — 赵敏
(zhaomin) reviewed the record. The refusals and the rejection use a one-step batch of the product completed in the
test (``mes/handover_plant``), handed over as its own quarantined lot: nothing stands in for the finished-product
lot."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from demo_codes import demo_codes
from helpers import actor, principal
from mes.handover_plant import complete, started_batch
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import events
from pharmatrace.kernel.errors import Conflict, SegregationOfDuties
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import packaging
from pharmatrace.mes.dispensing_models import MaterialCharge, WeighingRecord
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms import dossiers, release
from pharmatrace.qms.release_models import ReleaseDecision
from pharmatrace.qms.release_schemas import DecisionCreate
from pharmatrace.storage.engine import Database
from pharmatrace.wms import lots, production
from pharmatrace.wms.models import Lot

QP = "zhaomin"  # reviewed its record
QP2 = "qianyu"  # the second qualified person: released it


def _decide(db: Database, login: str, decision: str, batch: str, **fields: Any) -> ReleaseDecision:
    who = principal(db, login)
    values: dict[str, Any] = {"decision": decision, "password": DEMO_PASSWORD, "login": login}
    values.update(fields)
    with UnitOfWork(db, who.actor, reason=values.get("reason")) as uow:
        row = release.decide(uow, who, batch, DecisionCreate.model_validate(values))
        uow.commit()
        uow.session.expunge_all()
        return row


def _counts(db: Database) -> tuple[int, int]:
    with db.sessions() as session:
        decided = session.scalar(select(func.count()).select_from(ReleaseDecision))
        signed = session.scalar(select(func.count()).select_from(Signature))
        return int(decided or 0), int(signed or 0)


def _statuses(db: Database, batch: str) -> dict[str, str]:
    with db.sessions() as session:
        return {item.code: item.status for item in release.checklist(session, batch)}


class _Alarms:
    def __init__(self, found: list[str]) -> None:
        self.found = found
        self.asked: list[tuple[list[str], datetime, datetime]] = []

    def unassessed_alarms(self, rooms: Sequence[str], start: datetime, end: datetime) -> list[str]:
        self.asked.append((list(rooms), start, end))
        return self.found


@pytest.fixture
def heard() -> Iterator[list[release.BatchReleaseDecided]]:
    """The release events the traceability area would hear."""
    got: list[release.BatchReleaseDecided] = []

    def handler(_uow: UnitOfWork, event: release.BatchReleaseDecided) -> None:
        got.append(event)

    events.subscribe(release.BatchReleaseDecided, handler)
    yield got
    events._HANDLERS[release.BatchReleaseDecided].remove(handler)


def _completed(db: Database) -> str:
    """A one-step batch of the product, completed: its lot handed over in quarantine, nothing else done."""
    batch_no = started_batch(db)
    complete(db, batch_no)
    return batch_no


@pytest.mark.clause("TJ-9.1", "TJ-6.3.4", "TJ-6.4.7", "TJ-6.4.4", "TJ-6.4.6", "TJ-7.4")
def test_the_demo_batch_was_released_on_its_own_lot_from_a_checklist_computed_from_the_record(
    db: Database,
) -> None:
    codes = demo_codes(db)
    batch = codes.batch_done  # the demo's completed, reviewed, released batch
    assert _statuses(db, batch) == {
        "record_review": "pass", "deviations": "pass", "capa": "not_applicable", "tests": "pass",
        "certificate": "pass", "packaging": "pass", "environment": "not_applicable", "materials": "pass",
        "registration": "pass",
    }  # fmt: skip
    with db.sessions() as session:
        found = release.release_public(session, batch)
        items = {item.code: item for item in found.checklist}
        assert "not connected" in items["environment"].text  # never a fake pass
        assert items["deviations"].evidence == [f"{codes.deviation(1)} closed impact_acceptable"]
        assert items["capa"].evidence and items["capa"].evidence[0].startswith("CAPA-")
        assert items["certificate"].evidence[0].endswith("QS-FG-DH-001 v1")
        assert len(items["materials"].evidence) == 7
        s = found.summary
        assert (s.product_code, s.recipe_code, s.recipe_version, s.yield_pct, s.reviewed_by) == (
            "FG-DH-0200", "MR-DH-001", 1, "99.08", "赵敏")  # fmt: skip
        assert (s.finished_lot, s.lot_status) == (batch, "released")
        assert [(c.conclusion, c.state) for c in s.certificates] == [("conforms", "signed")]
        assert found.ready and found.state == "release"
        decision = found.decisions[-1]
        assert (decision.decision, decision.decided_by, decision.lot_status) == ("release", QP2, "released")
        assert [(g.action, g.signer_login, g.status) for g in decision.signatures] == [
            ("qms.batch.release", QP2, "valid")
        ]
        stored = session.scalars(select(ReleaseDecision).where(ReleaseDecision.batch_no == batch)).one()
        content = json.loads(stored.content)  # the checklist and summary the decision was made on, by SM3
        assert release.content_hash(content) == stored.content_sm3
        assert {item["status"] for item in content["checklist"]} == {"pass", "not_applicable"}
        assert production.lot_of_batch(session, batch).status == "released"  # type: ignore[union-attr]
        order = release.get_batch(session, batch)
        involved = release.involved(session, order)
        assert QP in involved  # why qianyu released it
        # whoever weighed, identified or charged its material or entered its packaging record is barred too,
        # whether or not they signed a step
        hands = set(
            session.scalars(
                select(WeighingRecord.weighed_by).where(WeighingRecord.batch_order_id == order.id)
            )
        )
        hands |= set(
            session.scalars(
                select(MaterialCharge.charged_by).where(MaterialCharge.batch_order_id == order.id)
            )
        )
        record = packaging.record_of(session, order)
        assert record is not None
        hands |= {who for model, column in release.PACKAGING_ENTRIES
                  for who in session.scalars(select(column).where(model.record_id == record.id))}  # fmt: skip
        assert hands and hands <= involved
        assert {r.batch_no: r.state for r in release.candidates(session)}[batch] == "release"
    before = _counts(db)
    with pytest.raises(Conflict, match="decided already"):
        _decide(db, QP2, "reject", batch, reason="重复决定")
    assert _counts(db) == before
    alarms = _Alarms(["ALM-0007 RM-FILL 悬浮粒子 ≥0.5 µm 超行动限"])
    release.register(alarms)
    try:
        assert _statuses(db, batch)["environment"] == "fail"
        rooms, start, end = alarms.asked[0]
        assert "RM-FILL" in rooms and start < end  # the batch's rooms over its window
        alarms.found = []
        assert _statuses(db, batch)["environment"] == "pass"
    finally:
        release.register(None)
    with db.sessions() as session:  # a change in the record shows at once: a consumed lot put on hold
        order_id = select(BatchOrder.id).where(BatchOrder.batch_no == batch).scalar_subquery()
        consumed = session.scalar(
            select(MaterialCharge.lot_id).where(MaterialCharge.batch_order_id == order_id)
        )
    with UnitOfWork(db, actor(db, "zhaomin"), reason="test: a lot the batch used put on hold") as uow:
        lots.hold(uow, int(consumed or 0))
        uow.commit()
    assert _statuses(db, batch)["materials"] == "fail"
    # TJ-9.1: the product's registration certificate ended (Registration & contracts): the checklist says so at once
    with db.sessions() as session:
        (item,) = [i for i in release.checklist(session, batch) if i.code == "registration"]
        assert item.status == "pass" and item.link and item.link.startswith("/qms/dossiers/REG-")
        number = item.params["number"]
    qa = principal(db, "chenjing")
    with UnitOfWork(db, qa.actor) as uow:
        dossiers.terminate(uow, qa, number, "注册证书注销（测试）")
        uow.commit()
    with db.sessions() as session:
        (item,) = [i for i in release.checklist(session, batch) if i.code == "registration"]
    assert item.status == "fail" and number in item.text and "terminated" in item.text


@pytest.mark.clause("TJ-9.1", "TJ-6.4.7")
def test_release_is_refused_while_an_item_fails_and_never_by_a_participant(db: Database) -> None:
    batch = _completed(db)
    assert _statuses(db, batch) == {
        "record_review": "fail", "deviations": "pass", "capa": "not_applicable", "tests": "fail",
        "certificate": "fail", "packaging": "not_applicable", "environment": "not_applicable", "materials": "fail",
        "registration": "pass",
    }  # fmt: skip
    before = _counts(db)
    with pytest.raises(release.ReleaseRefused) as refused:
        _decide(db, QP2, "release", batch)
    assert refused.value.code == "release_refused" and f"Lot {batch} has no test order" in str(refused.value)
    with db.sessions() as session:  # who may not decide: who performed a step, who reviewed the record
        assert QP2 not in release.involved(session, release.get_batch(session, batch))
    with UnitOfWork(
        db, actor(db, "sysadmin"), reason="test: the operator also made a qualified person"
    ) as uow:
        user = identity.find_user(uow.session, "zhangwei")
        assert user is not None
        identity.set_user_roles(uow, user.id, ["production_operator", "qa_release"])
        uow.commit()
    for decision in ("release", "reject"):  # he performed its step (segregation of duties)
        with pytest.raises(SegregationOfDuties, match=f"zhangwei took part in batch {batch}"):
            _decide(db, "zhangwei", decision, batch, reason="不合格")
    with pytest.raises(ValidationError, match="needs its reason"):
        DecisionCreate(decision="reject", password=DEMO_PASSWORD)
    with pytest.raises(ValidationError, match="enter your password"):
        DecisionCreate(decision="release")
    assert _counts(db) == before
    with db.sessions() as session:
        assert production.lot_of_batch(session, batch).status == "quarantine"  # type: ignore[union-attr]


@pytest.mark.clause("TJ-9.1", "SH-7.1.4")
def test_a_quarantine_then_a_signed_rejection_hold_and_reject_the_batch_lot(
    db: Database, heard: list[release.BatchReleaseDecided]
) -> None:
    batch = _completed(db)
    held = _decide(db, QP2, "quarantine", batch, reason="待检验", password="")
    assert (held.decision, held.lot_status) == ("quarantine", "on_hold")
    with pytest.raises(Conflict, match="quarantined already"):
        _decide(db, QP2, "quarantine", batch, reason="待定")
    row = _decide(db, QP2, "reject", batch, reason="无成品检验报告书，不予放行")
    assert (row.decision, row.reason, row.lot_status) == ("reject", "无成品检验报告书，不予放行", "rejected")
    with db.sessions() as session:
        lot = session.get(Lot, row.lot_id)
        assert lot is not None and (lot.lot_number, lot.status) == (batch, "rejected")
        signed = esign.signatures_for(session, release.OBJECT_TYPE, str(row.id))
        assert [(s.action, s.meaning, esign.verify(session, s)) for s in signed] == [
            ("qms.batch.reject", "rejected", "valid")
        ]
        assert [d.decision for d in release.release_public(session, batch).decisions] == [
            "quarantine",
            "reject",
        ]
    assert [(e.event, e.batch_no, e.lot_status) for e in heard] == [
        ("qms.batch.quarantined", batch, "on_hold"), ("qms.batch.rejected", batch, "rejected"),
    ]  # fmt: skip
    before = _counts(db)
    with pytest.raises(Conflict, match="decided already"):
        _decide(db, QP2, "release", batch)
    assert _counts(db) == before
