"""Product quality review, read like the SOP: QA compiles the review of a product for the year from the records —
batches and their release, yields, deviations, test results, changes, complaints and recalls, stability — and the
content matches what the database holds; a deviation found later is taken in by recompiling (a new version, the
old snapshot kept and superseded); QA records the conclusions; the qualified person — never the compiler, never
without an overall conclusion — approves by signature on the SM3 of the content. Every refusal changes nothing
(TJ-9.4, SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.errors import Conflict, NotPermitted, PharmaTraceError, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder, StepExecution
from pharmatrace.qms import deviations
from pharmatrace.qms import pqr as service
from pharmatrace.qms.complaint_models import Complaint
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.qms.pqr_models import PqrDecision, ProductQualityReview
from pharmatrace.qms.pqr_schemas import PqrApprove, PqrCompile, PqrRecompile, PqrReview
from pharmatrace.storage.engine import Database

PRODUCT, QA, QP, OTHER_QP = "FG-DH-0200", "chenjing", "zhaomin", "qianyu"


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return getattr(result, "number", result)


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (ProductQualityReview, PqrDecision, Signature))


def _refused(db: Database, error: Any, write: Any, login: str, match: str | None = None) -> None:
    """``write(uow, principal)`` is refused with ``error`` and changes nothing."""
    before = _counts(db)
    who = principal(db, login)
    with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
        write(uow, who)
        uow.commit()
    assert _counts(db) == before


def _demo(db: Database) -> ProductQualityReview:
    with db.sessions() as session:
        pqr = session.scalars(select(ProductQualityReview).order_by(ProductQualityReview.id)).first()
        assert pqr is not None
        session.expunge_all()
        return pqr


def _approve(number: str, password: str = DEMO_PASSWORD) -> Any:
    return lambda uow, who: service.approve(uow, who, number, PqrApprove(password=password, login=who.login))


@pytest.mark.clause("TJ-9.4", "SH-6.2.4")
def test_the_compiled_review_is_what_the_database_holds(db: Database) -> None:
    pqr = _demo(db)
    year = service.today().year
    with db.sessions() as session:  # the completed batch: last year's in the first days of January (ADR 0015)
        first = session.scalar(select(BatchOrder.created_at).order_by(BatchOrder.id).limit(1))
    assert first is not None
    assert (pqr.product_code, pqr.status, pqr.period_start, pqr.period_end) == (
        PRODUCT, "in_review", date(clock.to_beijing(first).year, 1, 1), date(year, 12, 31))  # fmt: skip
    assert pqr.content_sm3 == crypto.sm3(pqr.content.encode()).hex() and pqr.overall_conclusion
    sections = service.content_of(pqr)["sections"]

    # counted again here with plain queries, independently of the compiler
    with db.sessions() as session:
        batches = {
            o.batch_no: o.id
            for o in session.scalars(select(BatchOrder).where(BatchOrder.product_code == PRODUCT))
            if pqr.period_start <= clock.to_beijing(o.started_at or o.planned_start).date() <= pqr.period_end
        }
        deviation_numbers = {
            d.number for d in session.scalars(select(Deviation))
            if {b.strip() for b in d.affected_batches.split(",")} & set(batches)
        }  # fmt: skip
        complaint_numbers = {
            c.number for c in session.scalars(select(Complaint))
            if c.batch_order_id in batches.values()
            or (c.product_code == PRODUCT and pqr.period_start <= clock.to_beijing(c.received_at).date() <= pqr.period_end)
        }  # fmt: skip
        yield_steps = session.scalars(
            select(StepExecution.id).where(StepExecution.batch_order_id.in_(list(batches.values())),
                                           StepExecution.step_type == "yield", StepExecution.state == "done")
        ).all()  # fmt: skip
        released = session.scalar(text(
            "SELECT count(DISTINCT batch_no) FROM qms_release_decisions WHERE decision = 'release'"
            " AND product_code = :p"), {"p": PRODUCT})  # fmt: skip
        studies = session.scalar(text(
            "SELECT count(*) FROM lims_stability_studies s JOIN materials m ON m.id = s.material_id"
            " WHERE m.code = :p"), {"p": PRODUCT})  # fmt: skip
    assert batches and deviation_numbers and complaint_numbers and yield_steps  # the demo has some of each
    assert sections["batches"]["counts"]["batches"] == len(batches)
    assert {r["batch_no"] for r in sections["batches"]["rows"]} == set(batches)
    assert sections["batches"]["counts"]["released"] == released
    assert {r["number"] for r in sections["deviations"]["rows"]} == deviation_numbers
    assert sections["deviations"]["counts"]["deviations"] == len(deviation_numbers)
    assert {r["number"] for r in sections["complaints"]["rows"]} == complaint_numbers
    assert sections["yields"]["counts"]["yield_steps"] == len(yield_steps)
    assert sections["stability"]["counts"]["studies"] == studies
    assert sections["complaints"]["counts"]["recalls"] >= 1  # the demo's mock recall of its batch
    # compiling over unchanged records gives the same bytes, and so the same SM3
    with db.sessions() as session:
        again = service._snapshot(
            session, service._product(session, PRODUCT), pqr.period_start, pqr.period_end
        )
    assert again == (pqr.content, pqr.content_sm3)


@pytest.mark.clause("TJ-9.4", "SH-6.2.4", "SH-7.1.4")
def test_recompiling_takes_in_a_new_deviation_and_the_qualified_person_approves(db: Database) -> None:
    old = _demo(db)
    batch = service.content_of(old)["sections"]["batches"]["rows"][0]["batch_no"]

    def deviation(uow: UnitOfWork, who: Any) -> Any:
        return deviations.open_deviation(
            uow, description="灯检剔除率偏高", occurred_at=clock.now(), immediate_actions="隔离剔除品",
            affected_batches=[batch], affected_products=[PRODUCT], source_kind="manual", source="manual",
        )  # fmt: skip

    _do(db, QA, deviation)
    _refused(db, ValidationError, lambda uow, who: PqrRecompile(reason=" "), QA)
    _do(db, QA, lambda uow, who: service.recompile(uow, who, old.number, PqrRecompile(reason="新增偏差")))
    with db.sessions() as session:
        new = service.get_pqr(session, old.number)
        kept = service.get_pqr(session, old.number, old.version)
        assert (new.version, new.status, new.supersedes_id, new.compiled_by) == (2, "compiled", old.id, QA)
        assert new.content_sm3 != old.content_sm3
        assert new.overall_conclusion == old.overall_conclusion  # carried over, to be confirmed
        counts = service.content_of(new)["sections"]["deviations"]["counts"]
        assert (
            counts["deviations"]
            == service.content_of(old)["sections"]["deviations"]["counts"]["deviations"] + 1
        )
        # the earlier snapshot stays whole, superseded, in the table, the audit trail and the ledger
        assert (kept.status, kept.content, kept.content_sm3) == ("superseded", old.content, old.content_sm3)
        assert ledger.find_record(session, "qms_pqr", str(old.id)) is not None
        new_id = new.id
    assert audit_entries(db, object_type="qms_pqr", object_id=str(old.id))[-1].reason == "新增偏差"

    # compiled, not reviewed yet: not approvable; QA confirms the conclusions
    _refused(db, Conflict, _approve(old.number), QP, "not possible now")
    _do(db, QA, lambda uow, who: service.record_review(uow, who, old.number, PqrReview(
        comments={"deviations": "新增偏差 1 起，调查中"}, process_stable=True, actions="跟踪偏差调查",
        overall_conclusion="工艺稳定，标准适用")))  # fmt: skip
    _do(db, QP, _approve(old.number))
    with db.sessions() as session:
        pqr = service.get_pqr(session, old.number)
        (decision,) = pqr.decisions
        assert (pqr.status, pqr.approved_by, pqr.id) == ("approved", QP, new_id)
        assert (decision.content_sm3, decision.review_sm3, decision.conclusion) == (
            pqr.content_sm3, service.review_hash(pqr), "工艺稳定，标准适用")  # fmt: skip
        (sig,) = esign.manifestations(session, service.DECISION_TYPE, str(decision.id))
        assert (sig.action, sig.meaning, sig.signer_login, sig.status) == ("qms.pqr.approve", "approved", QP,
                                                                           "valid")  # fmt: skip
    # an approved review is not changed: its conclusions stay as signed ...
    _refused(db, Conflict, lambda uow, who: service.record_review(uow, who, old.number, PqrReview(
        overall_conclusion="改写", reason="改写结论")), OTHER_QP, "not possible now")  # fmt: skip
    _refused(db, Conflict, _approve(old.number), OTHER_QP, "not possible now")
    # ... and a correction is its next version, with the reason; the signed version stays as it was signed
    _do(db, QA, lambda uow, who: service.recompile(uow, who, old.number, PqrRecompile(reason="更正收率计算")))
    with db.sessions() as session:
        corrected, signed = service.get_pqr(session, old.number), session.get(ProductQualityReview, new_id)
        assert signed is not None and (corrected.version, corrected.status, corrected.supersedes_id) == (
            3, "compiled", new_id)  # fmt: skip
        assert (signed.status, signed.approved_by, len(signed.decisions)) == ("superseded", QP, 1)
        assert signed.decisions[0].review_sm3 == service.review_hash(signed)  # the approval still matches it
    # conclusions carried over are confirmed without a reason the first time, then changed only with one
    _do(
        db,
        QA,
        lambda uow, who: service.record_review(uow, who, old.number, PqrReview(overall_conclusion="稳定")),
    )
    _refused(db, ValidationFailed, lambda uow, who: service.record_review(uow, who, old.number, PqrReview(
        overall_conclusion="工艺稳定")), QA, "reason")  # fmt: skip
    _do(db, QA, lambda uow, who: service.record_review(uow, who, old.number, PqrReview(
        overall_conclusion="工艺稳定，标准适用（收率已更正）", reason="补充更正说明")))  # fmt: skip
    (last,) = [e for e in audit_entries(db, object_type="qms_pqr") if e.reason == "补充更正说明"]
    assert "工艺稳定，标准适用（收率已更正）" in str(last.changes)


@pytest.mark.both  # the database keeps the rules too: proven on both dialects
@pytest.mark.clause("TJ-9.4", "SH-7.1.4", "SH-7.1.3")
def test_every_refusal_writes_nothing(db: Database) -> None:
    demo = _demo(db)
    # a wrong password: nothing written, the review still in review
    _refused(db, PharmaTraceError, _approve(demo.number, "wrong-password"), QP)
    assert _demo(db).status == "in_review"
    # unknown product, a raw material, a period ending before it starts, a second live review of the period
    _refused(db, ValidationFailed, lambda uow, who: service.compile_review(uow, who, PqrCompile(product="NOPE-1")),
             QA, "not a finished product")  # fmt: skip
    _refused(db, ValidationFailed, lambda uow, who: service.compile_review(
        uow, who, PqrCompile(product="HB-DS-001")), QA, "not a finished product")  # fmt: skip
    with pytest.raises(ValidationError, match="cannot end before"):
        PqrCompile(product=PRODUCT, period_start=date(2026, 6, 30), period_end=date(2026, 1, 1))
    backwards = PqrCompile.model_construct(product=PRODUCT, year=None, period_start=date(2026, 6, 30),
                                           period_end=date(2026, 1, 1))  # fmt: skip
    _refused(
        db, ValidationFailed, lambda uow, who: service.compile_review(uow, who, backwards), QA, "end before"
    )
    again = PqrCompile(product=PRODUCT, period_start=demo.period_start, period_end=demo.period_end)
    _refused(db, Conflict, lambda uow, who: service.compile_review(uow, who, again), QA, demo.number)
    _refused(db, NotPermitted, lambda uow, who: service.compile_review(
        uow, who, PqrCompile(product=PRODUCT, year=2025)), "zhangwei")  # fmt: skip

    # the compiler may not approve; nor may anyone without an overall conclusion
    half = {"period_start": date(2026, 1, 1), "period_end": date(2026, 6, 30)}
    own = _do(
        db, OTHER_QP, lambda uow, who: service.compile_review(uow, who, PqrCompile(product=PRODUCT, **half))
    )
    _do(
        db,
        OTHER_QP,
        lambda uow, who: service.record_review(uow, who, own, PqrReview(overall_conclusion="稳定")),
    )
    _refused(db, NotPermitted, _approve(own), OTHER_QP, "compiler")
    # who wrote the conclusions may not approve them either (SH-7.1.4)
    _do(db, QP, lambda uow, who: service.record_review(uow, who, own, PqrReview(overall_conclusion="工艺稳定",
                                                                              reason="补充结论")))  # fmt: skip
    _refused(db, NotPermitted, _approve(own), QP, "conclusions")
    _do(db, QA, lambda uow, who: service.record_review(uow, who, own, PqrReview(overall_conclusion="",
                                                                              reason="结论待定")))  # fmt: skip
    _refused(db, Conflict, _approve(own), QP, "no overall conclusion")
    _refused(db, NotPermitted, _approve(demo.number), QA)  # QA holds no qms.release.decide

    _do(db, QP, _approve(demo.number))
    for statement in (
        "UPDATE qms_pqr_decisions SET comment = 'x'",
        "DELETE FROM qms_pqr_decisions",
        "DELETE FROM qms_pqrs",
        f"UPDATE qms_pqrs SET approved_by = compiled_by WHERE number = '{demo.number}'",
        f"UPDATE qms_pqrs SET overall_conclusion = '' WHERE number = '{demo.number}'",
        f"UPDATE qms_pqrs SET period_end = '2000-01-01' WHERE number = '{own}'",
        # migration 0047: the author of the conclusions does not approve them; an approved version is frozen
        f"UPDATE qms_pqrs SET reviewed_by = 'zhaomin', approved_by = 'zhaomin' WHERE number = '{own}'",
        f"UPDATE qms_pqrs SET actions = 'rewritten' WHERE number = '{demo.number}'",
    ):
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
