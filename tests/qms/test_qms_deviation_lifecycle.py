"""Deviations: recorded by whoever meets them, classified by QA by the rules (or overridden with the rationale),
investigated to the root cause, assessed for their impact on every affected batch and lot, closed by QA's
signature, never by whoever recorded them; every refusal changes nothing; overdue steps are escalated once
(TJ-6.4.4, TJ-B.2.3.2, SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from demo_codes import demo_codes
from helpers import behind_the_apps_back, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import deviations
from pharmatrace.qms.deviation_models import Deviation, DeviationClosure, DeviationEvent, DeviationImpact
from pharmatrace.qms.deviation_schemas import (
    Classification,
    DeviationCreate,
    ImpactAssessment,
    Investigation,
    Triage,
)
from pharmatrace.storage.engine import Database

RECORDER, QA, QP, SUPERVISOR, OPERATOR = "lina", "chenjing", "zhaomin", "lina", "zhangwei"


def _as(db: Database, login: str, act: Any, reason: str | None = None) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor, reason=reason) as uow:
        result = act(uow, who)
        uow.commit()
        return result


def _batch(db: Database) -> str:
    """The demo's completed batch (e.g. DH2611001)."""
    return demo_codes(db).batch_done


def _record(db: Database, login: str = RECORDER, **changes: Any) -> str:
    data: dict[str, Any] = {
        "description": "压盖机 CAP-01 压盖力报警，约 200 支轧盖不良，已剔除。", "occurred_at": clock.now() - timedelta(hours=1),
        "immediate_actions": "停机调整压盖头，剔除不良品并复检 500 支。", "affected_batches": [_batch(db)],
        "category": "equipment",
    }  # fmt: skip
    data.update(changes)
    body = DeviationCreate.model_validate(data)
    return str(_as(db, login, lambda uow, who: deviations.record(uow, who, body)).number)


def _classify(db: Database, number: str, login: str = QA, **changes: Any) -> None:
    data: dict[str, Any] = {"category": "equipment", "triage": {"product_quality": True},
                            "rationale": "轧盖完整性可能影响产品质量。"}  # fmt: skip
    data.update(changes)
    body = Classification.model_validate(data)
    _as(db, login, lambda uow, who: deviations.classify(uow, who, number, body))


def _investigate(
    db: Database, number: str, login: str = SUPERVISOR, no_capa: str = "单次设备故障，已纳入维护。"
) -> None:
    body = Investigation(root_cause="压盖头弹簧疲劳。", why_chain=["为什么报警？——压盖力低。", "为什么力低？——弹簧疲劳。"],
                         fishbone=["machine"], conclusion="不良品已全部剔除，其余产品密封完好。", no_capa_rationale=no_capa)  # fmt: skip
    _as(db, login, lambda uow, who: deviations.complete_investigation(uow, who, number, body))


def _assess(db: Database, number: str, ref: str | None = None, kind: str = "batch", login: str = QA) -> None:
    body = ImpactAssessment(object_kind=kind, object_ref=ref or _batch(db), conclusion="no_impact",  # type: ignore[arg-type]
                            rationale="密封性检查 500 支全部合格。")  # fmt: skip
    _as(db, login, lambda uow, who: deviations.assess_impact(uow, who, number, body))


def _close(db: Database, number: str, login: str = QP, password: str = DEMO_PASSWORD) -> DeviationClosure:
    return _as(db, login, lambda uow, who: deviations.close(uow, who, number, password=password, login=login,  # type: ignore[no-any-return]
                                                          comment="同意关闭"))  # fmt: skip


def _state(db: Database, number: str) -> tuple[Any, ...]:
    """Everything a refusal must leave as it was: the deviation's row and its own rows."""
    with db.sessions() as session:
        d = deviations.get_deviation(session, number)
        counts = tuple(
            session.scalar(select(func.count()).select_from(model).where(model.deviation_id == d.id))
            for model in (DeviationEvent, DeviationImpact, DeviationClosure)
        )
        return (
            d.status,
            d.classification,
            d.due_date,
            d.investigated_at,
            d.closed_by,
            d.affected_batches,
            *counts,
        )


async def _scheduled(job: Coroutine[Any, Any, None], until: Callable[[], bool], seconds: float = 20) -> bool:
    """Run a background job of the web process until ``until()`` holds (or ``seconds`` pass), then stop it."""
    task = asyncio.create_task(job)
    try:
        for _ in range(int(seconds * 10)):
            await asyncio.sleep(0.1)
            if until():
                return True
        return False
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.clause("TJ-6.4.4", "TJ-B.2.3.2", "SH-6.2.4", "SH-7.1.4")
def test_a_deviation_goes_from_record_to_qa_closure_and_into_the_batch_evaluation(db: Database) -> None:
    number = _record(db)
    with db.sessions() as session:
        d = deviations.get_deviation(session, number)
        assert (d.status, d.source_kind, d.recorded_by) == ("open", "manual", RECORDER)
        assert d.due_date == deviations.today() + timedelta(days=deviations.TRIAGE_DAYS)
    _classify(db, number)
    with db.sessions() as session:
        d = deviations.get_deviation(session, number)
        assert (d.status, d.suggested_class, d.classification, d.reviewer) == (
            "classified",
            "major",
            "major",
            QA,
        )
        assert d.due_date == deviations.today() + timedelta(days=deviations.INVESTIGATION_DAYS["major"])
    _as(db, SUPERVISOR, lambda uow, who: deviations.start_investigation(uow, who, number))
    _as(db, SUPERVISOR, lambda uow, who: deviations.record_action(uow, who, number, "更换压盖头弹簧。"))
    _investigate(db, number)
    _assess(db, number)
    before = _state(db, number)
    with pytest.raises(AuthenticationFailed):
        _close(db, number, password="wrong-password")
    assert _state(db, number) == before
    closure = _close(db, number)
    with db.sessions() as session:
        d = deviations.get_deviation(session, number)
        assert (d.status, d.closed_by, d.due_date) == ("closed", QP, None)
        assert closure.content_sm3 == deviations.content_sm3(d)
        [signature] = esign.manifestations(session, deviations.CLOSURE_TYPE, str(closure.id))
        assert (signature.action, signature.meaning, signature.signer_login, signature.status) == (
            "qms.deviation.close", "approved", QP, "valid",
        )  # fmt: skip
        assert [e.kind for e in d.events] == [
            "recorded", "classified", "investigation_started", "immediate_action", "investigated", "impact", "closed",
        ]  # fmt: skip
        evaluation = {e.number: e for e in deviations.batch_quality_evaluation(session, _batch(db).lower())}
        assert evaluation[number].conclusion == "no_impact" and evaluation[number].closed
        demo = next(e for e in evaluation.values() if e.number != number)  # the demo's LYO-CPP1 deviation
        assert (demo.status, demo.conclusion) == ("closed", "impact_acceptable")
        assert deviations.batch_quality_evaluation(session, "NO-SUCH-BATCH") == []


@pytest.mark.clause("TJ-6.4.4", "SH-6.2.4")
def test_the_rules_suggest_the_class_and_qa_may_override_it_with_the_rationale(db: Database) -> None:
    assert deviations.suggest_class(Triage(sterility_assurance=True), repeat=False) == "critical"
    assert (
        deviations.suggest_class(Triage(patient_safety=True, product_quality=True), repeat=False)
        == "critical"
    )
    assert deviations.suggest_class(Triage(validated_state=True), repeat=False) == "major"
    assert deviations.suggest_class(Triage(), repeat=True) == "major"
    assert deviations.suggest_class(Triage(), repeat=False) == "minor"
    number = _record(db, category="other")
    _classify(
        db, number, category="personnel", triage={}, classification="critical", rationale="QA 从严定级。"
    )
    with db.sessions() as session:
        d = deviations.get_deviation(session, number)
        assert (d.suggested_class, d.classification) == ("minor", "critical")  # both kept
        assert d.due_date == deviations.today() + timedelta(days=deviations.INVESTIGATION_DAYS["critical"])
    again = _record(db)  # a second personnel deviation within the window: a repeat
    _classify(db, again, category="personnel", triage={})
    with db.sessions() as session:
        assert deviations.get_deviation(session, again).suggested_class == "major"
    before = _state(db, number)
    with pytest.raises(ValidationFailed):  # a re-classification needs a reason
        _classify(db, number, classification="minor")
    assert _state(db, number) == before
    _as(db, QA, lambda uow, who: deviations.classify(uow, who, number, Classification(
        category="personnel", triage=Triage(), classification="minor", rationale="复核后降级。")), reason="复核")  # fmt: skip
    assert _state(db, number)[1] == "minor"


@pytest.mark.clause("TJ-6.4.4", "SH-7.1.4", "TJ-10.1.2.2")
def test_closure_is_refused_to_the_recorder_and_while_anything_is_missing(db: Database) -> None:
    number = _record(db, login=QA)  # recorded by QA herself
    before = _state(db, number)
    with pytest.raises(deviations.ClosureRefused) as refused:  # open: not classified, not investigated
        _close(db, number)
    assert "not classified" in str(refused.value) and "no impact conclusion" in str(refused.value)
    assert _state(db, number) == before
    _classify(db, number, login=QP)
    _investigate(db, number, no_capa="")
    before = _state(db, number)
    with pytest.raises(deviations.DutiesNotSegregated):
        _close(db, number, login=QA)
    with pytest.raises(deviations.ClosureRefused) as refused:
        _close(db, number)
    assert f"Batch {_batch(db)} has no impact conclusion" in str(refused.value)
    assert "needs a CAPA or the rationale" in str(refused.value)  # major, no CAPA, no rationale
    assert _state(db, number) == before
    _assess(db, number, login=QP)
    with pytest.raises(NotPermitted):  # the operator may raise, not close
        _close(db, number, login=OPERATOR)
    before = _state(db, number)
    with pytest.raises(deviations.ClosureRefused):
        _close(db, number)  # still no CAPA decision
    assert _state(db, number) == before


@pytest.mark.clause("TJ-6.4.4", "SH-6.2.4")
def test_the_lifecycle_refuses_steps_out_of_order_and_bad_input(db: Database) -> None:
    number = _record(db)
    before = _state(db, number)
    with pytest.raises(Conflict):  # not classified yet
        _as(db, SUPERVISOR, lambda uow, who: deviations.start_investigation(uow, who, number))
    with pytest.raises(NotPermitted):  # classification is QA's
        _classify(db, number, login=SUPERVISOR)
    with pytest.raises(ValidationFailed):
        _assess(db, number, ref="NO-SUCH-BATCH")
    with pytest.raises(ValidationFailed):
        _assess(db, number, ref="NO-SUCH-LOT", kind="lot")
    with pytest.raises(ValidationFailed):
        _record(db, affected_batches=["NO-SUCH-BATCH"])
    with pytest.raises(ValidationFailed):
        _record(db, occurred_at=clock.now() + timedelta(days=1))
    assert _state(db, number) == before
    with pytest.raises(ValidationError):
        Investigation(root_cause="x1", why_chain=[], fishbone=["machine"], conclusion="ok")
    with pytest.raises(ValidationError):
        Investigation(root_cause="x1", why_chain=["a"], fishbone=["weather"], conclusion="ok")  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        DeviationCreate.model_validate({"description": "x", "occurred_at": "2026-11-01T08:00:00",
                                        "immediate_actions": "none"})  # fmt: skip
    _classify(db, number)
    _investigate(db, number)
    _assess(db, number)
    _close(db, number)
    closed = _state(db, number)
    with pytest.raises(Conflict):
        _as(db, QA, lambda uow, who: deviations.record_action(uow, who, number, "迟到的措施"))
    with pytest.raises(Conflict):
        _as(db, QA, lambda uow, who: deviations.cancel(uow, who, number), reason="误报")
    assert _state(db, number) == closed


@pytest.mark.clause("TJ-6.4.4", "SH-6.2.4")
def test_qa_cancels_with_a_reason_but_not_a_deviation_of_her_own(db: Database) -> None:
    number = _record(db)
    before = _state(db, number)
    with pytest.raises(ValidationFailed):
        _as(db, QA, lambda uow, who: deviations.cancel(uow, who, number))
    with pytest.raises(NotPermitted):
        _as(db, RECORDER, lambda uow, who: deviations.cancel(uow, who, number), reason="误报")
    assert _state(db, number) == before
    own = _record(db, login=QA)
    with pytest.raises(deviations.DutiesNotSegregated):
        _as(db, QA, lambda uow, who: deviations.cancel(uow, who, own), reason="误报")
    _as(db, QA, lambda uow, who: deviations.cancel(uow, who, number), reason="重复记录，见另一偏差")
    with db.sessions() as session:
        d = deviations.get_deviation(session, number)
        assert (d.status, d.cancel_reason, d.due_date) == ("cancelled", "重复记录，见另一偏差", None)
    with pytest.raises(Conflict):
        _classify(db, number)


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.4.4", "SH-6.2.4")
def test_overdue_steps_are_escalated_once_each(db: Database) -> None:
    number = _record(db)

    def overdue(days: int = 1) -> None:
        def act(uow: UnitOfWork, _who: Any) -> None:
            deviations.get_deviation(uow.session, number).due_date = deviations.today() - timedelta(days=days)

        _as(db, QA, act, reason="test: the due date passed")

    def escalations() -> list[str | None]:
        with db.sessions() as session:
            d = deviations.get_deviation(session, number)
            return [e.step for e in d.events if e.kind == "escalated"]

    deviations.escalate_overdue(db)
    assert escalations() == []
    overdue()
    with db.sessions() as session:
        assert deviations.is_overdue(deviations.get_deviation(session, number))
        assert number in {d.number for d in deviations.list_deviations(session, overdue=True)}
        assert deviations.dashboard(session).overdue >= 1
    assert asyncio.run(_scheduled(deviations.escalator(db), until=lambda: escalations() == ["triage"]))
    assert deviations.escalate_overdue(db) == 0  # idempotent
    assert escalations() == ["triage"]
    _classify(db, number)
    overdue(5)
    deviations.escalate_overdue(db)
    deviations.escalate_overdue(db)
    assert escalations() == ["triage", "investigation"]
    with db.sessions() as session:
        deviation_id = deviations.get_deviation(session, number).id
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:  # the database holds the once, too
        conn.execute(text("INSERT INTO deviation_events (deviation_id, kind, step, text, at, by, by_name) "
                          "VALUES (:d, 'escalated', 'triage', '', :at, 'x', 'x')"),
                     {"d": deviation_id, "at": clock.now()})  # fmt: skip


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.4.4", "SH-7.1.3.c")
def test_the_database_refuses_a_self_closure_and_changes_to_closed_records(db: Database) -> None:
    with db.sessions() as session:
        demo = session.scalar(select(Deviation).where(Deviation.status == "closed").order_by(Deviation.id))
        assert demo is not None and demo.recorded_by == "lina" and demo.closed_by == "zhaomin"
        closure_id = demo.closures[0].id
        deviation_id = demo.id
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(
            text("UPDATE deviations SET closed_by = recorded_by WHERE id = :id"), {"id": deviation_id}
        )
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE deviation_closures SET comment = 'x' WHERE id = :id"), {"id": closure_id})


@pytest.mark.clause("TJ-6.4.4", "TJ-B.2.3.2")
def test_the_mes_seam_opens_a_qms_deviation_and_the_demo_shows_every_stage(db: Database) -> None:
    with db.sessions() as session:
        found = {d.source_kind: d for d in session.scalars(select(Deviation))}
        assert found["mes"].status == "closed" and found["mes"].source.startswith("batch_exception:")
        assert found["mes"].events[0].kind == "recorded"
        assert any(e.kind == "escalated" and e.step == "triage" for e in found["mes"].events)
        assert (found["mes"].suggested_class, found["mes"].classification) == ("critical", "major")
        assert found["lims"].status == "investigating" and found["lims"].source.startswith("lims:")
        assert found["wms"].status == "open" and found["wms"].recorded_by == "zhouqiang"
        [signature] = esign.manifestations(session, deviations.CLOSURE_TYPE, str(found["mes"].closures[0].id))
        assert signature.status == "valid"
