"""Supplier qualification, read like the SOP: QA drafts the qualification of a supplier for a material, gives the
evidence its kind requires (licences, GAP records of a planting base, the quality agreement), evaluates trial lots
and proposes a status; another QA person — never the requester — approves it by signature, and the approved-supplier
list the warehouse checks at receipt is written in the same transaction. A rejection leaves the list as it is. The
lines of the list whose validity ends are listed for requalification until one is started. Every refusal changes
nothing (SH-6.2.4, TJ-5.1, TJ-5.2.1.1, SH-7.1.4)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from helpers import count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, crypto
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import supplier_qualifications as service
from pharmatrace.qms.supplier_qualification_models import (
    QualificationDecision,
    QualificationDocument,
    SupplierQualification,
)
from pharmatrace.qms.supplier_qualification_schemas import (
    DocumentCreate,
    QualificationApprove,
    QualificationCreate,
    QualificationUpdate,
)
from pharmatrace.storage.engine import Database
from pharmatrace.wms import service as wms
from pharmatrace.wms.models import SupplierApproval

REQUESTER, QP, OTHER_QP = "chenjing", "zhaomin", "qianyu"
# 亳州华济 makes decoction pieces; a new source of the extract (medium risk, no on-site audit required)
SUPPLIER, EXTRACT, PIECES = "SUP-BZ-YP", "EX-DH-001", "DP-DS-001"


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
    return getattr(result, "number", result)


def _counts(db: Database) -> tuple[int, ...]:
    models = (SupplierQualification, QualificationDocument, QualificationDecision, Signature, AuditEntry)
    return tuple(count_rows(db, m) for m in models)


def _approvals(db: Database) -> list[tuple[str, Any]]:
    with db.sessions() as session:
        return [
            (a.status, a.valid_until)
            for a in session.scalars(select(SupplierApproval).order_by(SupplierApproval.id))
        ]


def _problem(db: Database, supplier: str, material: str) -> str | None:
    with db.sessions() as session:
        found = wms.supplier_problem(session, supplier, material)
        return str(found) if found else None


def _create(db: Database, **changes: Any) -> str:
    data: dict[str, Any] = {"supplier_code": SUPPLIER, "material_code": EXTRACT, "kind": "new"}
    data.update(changes)
    return str(
        _do(
            db,
            REQUESTER,
            lambda uow, who: service.create_qualification(uow, who, QualificationCreate(**data)),
        )
    )


def _evidence(db: Database, number: str, kinds: tuple[str, ...] = ("business_licence", "manufacturing_licence",
                                                                   "quality_agreement")) -> None:  # fmt: skip
    until = clock.today() + timedelta(days=700)
    for kind in kinds:
        doc = DocumentCreate.model_validate({"kind": kind, "reference": f"REF-{kind}", "valid_until": until})
        _do(db, REQUESTER, lambda uow, who, doc=doc: service.add_document(uow, who, number, doc))


def _evaluated(**changes: Any) -> QualificationUpdate:
    data: dict[str, Any] = {"kind": "new", "samples_tested": 3, "samples_conforming": 3,
                            "sample_notes": "试生产批 EX2611-01～03 检验合格", "proposed_status": "approved",
                            "proposed_valid_until": clock.today() + timedelta(days=365), "conclusion": "同意"}  # fmt: skip
    data.update(changes)
    return QualificationUpdate.model_validate(data)


def _ready(db: Database, **changes: Any) -> str:
    """A draft with its evidence and its evaluation, ready to submit."""
    number = _create(db, **changes)
    _evidence(db, number)
    _do(db, REQUESTER, lambda uow, who: service.update_qualification(uow, who, number, _evaluated()))
    return number


def _approve(number: str, login: str = QP) -> Any:
    def write(uow: UnitOfWork, who: Any) -> Any:
        return service.approve(uow, who, number, QualificationApprove(password=DEMO_PASSWORD, login=login))

    return write


def _get(db: Database, number: str) -> SupplierQualification:
    with db.sessions() as session:
        found = service.get_qualification(session, number)
        session.expunge_all()
        return found


@pytest.mark.clause("SH-6.2.4", "TJ-5.2.1.1", "SH-7.1.4")
def test_a_qualification_signed_by_qa_puts_the_supplier_on_the_list_the_warehouse_receives_from(
    db: Database,
) -> None:
    refused_before = _problem(db, SUPPLIER, EXTRACT)
    assert refused_before is not None and "not on the approved-supplier list" in refused_before
    number = _create(db)
    q = _get(db, number)
    assert number.startswith("SQ-") and (q.risk_class, q.audit_required, q.status) == (
        "medium",
        False,
        "draft",
    )
    _evidence(db, number)
    until = clock.today() + timedelta(days=400)
    _do(
        db,
        REQUESTER,
        lambda uow, who: service.update_qualification(
            uow, who, number, _evaluated(proposed_valid_until=until)
        ),
    )
    _do(db, REQUESTER, lambda uow, who: service.submit(uow, who, number))
    assert _get(db, number).status == "in_review"

    decision_id = _do(db, QP, lambda uow, who: _approve(number)(uow, who).id)
    with db.sessions() as session:
        q = service.get_qualification(session, number)
        assert (q.status, q.decided_by) == ("approved", QP)
        (row,) = q.decisions
        assert row.kind == "approve" and row.content_sm3 == crypto.sm3(row.content.encode()).hex()
        assert row.content == service.canonical_content(q)
        (signature,) = session.scalars(select(Signature).where(Signature.object_id == str(row.id),
                                                               Signature.object_type == service.DECISION_TYPE)).all()  # fmt: skip
        assert signature.signer_login == QP and decision_id == row.id
        entry = session.scalars(select(SupplierApproval).where(SupplierApproval.supplier_id == q.supplier_id,
                                                              SupplierApproval.material_id == q.material_id)).one()  # fmt: skip
        assert (entry.status, entry.valid_until, entry.decided_by) == ("approved", wms.end_of_day(until), QP)
        reasons = session.scalars(select(AuditEntry.reason).where(AuditEntry.object_type == "supplier_approval",
                                                                 AuditEntry.object_id == str(entry.id))).all()  # fmt: skip
        assert any(number in (r or "") for r in reasons)
    # TJ-5.2.1.1: the warehouse now receives the extract from this supplier
    assert _problem(db, SUPPLIER, EXTRACT) is None


@pytest.mark.clause("SH-6.2.4", "TJ-5.1", "SH-7.1.4")
def test_each_guard_refuses_and_changes_nothing(db: Database) -> None:
    with db.sessions() as session:
        planned_audit = session.scalar(select(SupplierQualification.audit_number).where(
            SupplierQualification.status == "in_review", SupplierQualification.audit_number.is_not(None)))  # fmt: skip
        waiting = session.scalar(select(SupplierQualification.number).where(
            SupplierQualification.audit_number == planned_audit))  # fmt: skip
    assert planned_audit and waiting  # the demo's herb-base change waits on its planned on-site audit
    in_review = _ready(db)
    _do(db, REQUESTER, lambda uow, who: service.submit(uow, who, in_review))
    missing = _create(db)
    _evidence(db, missing, ("business_licence", "quality_agreement"))
    _do(db, REQUESTER, lambda uow, who: service.update_qualification(uow, who, missing, _evaluated()))
    expired = _ready(db)
    old = DocumentCreate(
        kind="other", reference="旧版检验报告", valid_until=clock.today() - timedelta(days=1)
    )
    _do(db, REQUESTER, lambda uow, who: service.add_document(uow, who, expired, old))
    high = _ready(
        db, material_code=PIECES, kind="requalification"
    )  # decoction pieces: high, an audit required
    assert _get(db, high).audit_required
    unevaluated = _create(db)
    _evidence(db, unevaluated)

    def create(**changes: Any) -> Any:
        data = {"supplier_code": SUPPLIER, "material_code": EXTRACT, **changes}
        return lambda uow, who: service.create_qualification(
            uow, who, QualificationCreate.model_validate(data)
        )

    cases: list[tuple[str, Any, Any, str, str | None]] = [
        ("unknown supplier", NotFound, create(supplier_code="SUP-NONE"), REQUESTER, "SUP-NONE"),
        ("unknown material", NotFound, create(material_code="XX-0000"), REQUESTER, "XX-0000"),
        ("risk lowered below the rule", ValidationFailed, create(material_code=PIECES, risk_class="low"), REQUESTER,
         None),
        ("audit of another supplier", Conflict, create(audit_number=planned_audit), REQUESTER, "not an audit of"),
        ("unknown audit", NotFound, create(audit_number="AU-1999-0001"), REQUESTER, "AU-1999-0001"),
        ("drafting without the permission", NotPermitted, create(), QP, None),
        ("missing required document", Conflict, lambda uow, who: service.submit(uow, who, missing), REQUESTER,
         "required documents"),
        ("expired document", Conflict, lambda uow, who: service.submit(uow, who, expired), REQUESTER, "expired"),
        ("required audit not linked", Conflict, lambda uow, who: service.submit(uow, who, high), REQUESTER,
         "on-site audit"),
        ("no trial lots evaluated", Conflict, lambda uow, who: service.submit(uow, who, unevaluated), REQUESTER,
         "trial lot"),
        ("required audit not closed", Conflict, _approve(waiting, OTHER_QP), OTHER_QP, "is not closed"),
        ("the requester approving", NotPermitted, _approve(in_review, REQUESTER), REQUESTER, "requester"),
        ("the requester rejecting", NotPermitted, lambda uow, who: service.reject(uow, who, in_review, "不合格"),
         REQUESTER, "requester"),
        ("editing after submission", Conflict,
         lambda uow, who: service.update_qualification(uow, who, in_review, _evaluated()), REQUESTER, "In review"),
        ("a document after submission", Conflict, lambda uow, who: service.add_document(uow, who, in_review, old),
         REQUESTER, "In review"),
        ("approving a draft", Conflict, _approve(missing), QP, "Draft"),
    ]  # fmt: skip
    for name, error, write, login, match in cases:
        before, listed = _counts(db), _approvals(db)
        who = principal(db, login)
        with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
            write(uow, who)
            uow.commit()
        assert (_counts(db), _approvals(db)) == (before, listed), name
    assert [_get(db, n).status for n in (in_review, missing, expired, high, waiting)] == [
        "in_review", "draft", "draft", "draft", "in_review"]  # fmt: skip


@pytest.mark.clause("SH-6.2.4", "TJ-5.2.1.1")
def test_a_returned_then_rejected_qualification_leaves_the_list_unchanged(db: Database) -> None:
    number = _ready(db)
    _do(db, REQUESTER, lambda uow, who: service.submit(uow, who, number))
    _do(db, QP, lambda uow, who: service.return_to_draft(uow, who, number, "请补充提取物指纹图谱"))
    assert _get(db, number).status == "draft"
    _do(db, REQUESTER, lambda uow, who: service.submit(uow, who, number))
    listed = _approvals(db)
    _do(db, QP, lambda uow, who: service.reject(uow, who, number, "指纹图谱与标准不一致"))
    with db.sessions() as session:
        q = service.get_qualification(session, number)
        assert (q.status, [(d.kind, d.comment) for d in q.decisions]) == (
            "rejected",
            [("reject", "指纹图谱与标准不一致")],
        )
    assert _approvals(db) == listed and _problem(db, SUPPLIER, EXTRACT) is not None
    other = _create(db)
    _do(db, REQUESTER, lambda uow, who: service.cancel(uow, who, other, "供应商放弃供货"))
    assert (_get(db, other).status, _get(db, other).cancel_reason) == ("cancelled", "供应商放弃供货")


@pytest.mark.clause("SH-6.2.4", "TJ-5.1")
def test_lines_due_for_requalification_leave_the_list_while_a_qualification_is_open(db: Database) -> None:
    on = clock.to_beijing(clock.now()).date()  # the demo's approvals run for months from its set-up

    def due(within: int = 90) -> list[str]:
        with db.sessions() as session:
            return [
                f"{d.supplier_code}/{d.material_code}"
                for d in service.due_for_requalification(session, within, on)
            ]

    # 红花 from 裕民 expired on 2026-10-31; 丹参 from 商洛 is within a year but its change qualification is open
    assert due() == ["SUP-YM-HH/HB-HH-001"]
    with db.sessions() as session:
        (line,) = service.due_for_requalification(session, 90, on)
        assert (line.valid_until, line.days_left) == (date(2026, 10, 31), (date(2026, 10, 31) - on).days)
    year = due(400)
    assert "SUP-TL-MAN/EXC-MAN-01" in year and "SUP-SL-DS/HB-DS-001" not in year
    number = _create(db, supplier_code="SUP-YM-HH", material_code="HB-HH-001", kind="requalification")
    assert _get(db, number).risk_class == "high" and "SUP-YM-HH/HB-HH-001" not in due()
    _do(db, REQUESTER, lambda uow, who: service.cancel(uow, who, number, "改为年度集中评价"))
    assert due() == ["SUP-YM-HH/HB-HH-001"]
