"""The quality dashboard (issue 9 item 11): per quality record type the counts by status, open, overdue and the
ageing of the open records agree with plain queries of the demo plant, and a new complaint shows at once; the page
shows them with links to the filtered lists and the chart's data, and only to a reader of the quality records
(SH-6.2.4, TJ-6.4.4)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from demo_codes import demo_codes
from helpers import behind_the_apps_back, log_in, principal
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import complaints, recalls
from pharmatrace.qms import dashboard as service
from pharmatrace.qms.audit_models import Audit
from pharmatrace.qms.capa_models import Capa, CapaAction
from pharmatrace.qms.change_models import ChangeRequest
from pharmatrace.qms.complaint_models import Complaint
from pharmatrace.qms.complaint_schemas import ComplaintCreate
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.qms.dossier_models import Dossier
from pharmatrace.qms.pqr_models import ProductQualityReview as Pqr
from pharmatrace.qms.recall_models import Recall
from pharmatrace.qms.risk_models import RiskAssessment
from pharmatrace.qms.supplier_qualification_models import SupplierQualification
from pharmatrace.qms.validation_models import Validation
from pharmatrace.storage.engine import Database

# the model and the statuses a record is still open in (written out here, not read from the modules)
TYPES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "deviation": (Deviation, ("open", "classified", "investigating", "investigated")),
    "capa": (Capa, ("draft", "approved", "implementation", "effectiveness_pending")),
    "change": (ChangeRequest, ("draft", "submitted", "approved", "in_implementation", "verification")),
    "complaint": (Complaint, ("received", "investigating", "responded")),
    "recall": (Recall, ("draft", "open")),
    "audit": (Audit, ("planned", "in_progress", "reporting")),
    "risk": (RiskAssessment, ("draft", "in_review")),
    "pqr": (Pqr, ("compiled", "in_review")),
    "validation": (Validation, ("draft", "protocol_review", "executing", "report_review")),
    "dossier": (Dossier, ("draft", "in_review")),
    "supplier_qualification": (SupplierQualification, ("draft", "in_review")),
}


def _by_status(session: Session, model: Any) -> dict[str, int]:
    query = select(model.status, func.count()).group_by(model.status)
    if model is Pqr:
        query = query.where(Pqr.status != "superseded")
    return {status: n for status, n in session.execute(query) if n}


def _overdue(session: Session, on: Any) -> dict[str, int | None]:
    def count(model: Any, opened: tuple[str, ...], due: Any) -> int:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.status.in_(opened), due < on))
        )

    return {
        "deviation": count(Deviation, TYPES["deviation"][1], Deviation.due_date),
        # a CAPA is late when it is past its due date or has an open action past its own
        "capa": int(
            session.scalar(
                select(func.count())
                .select_from(Capa)
                .where(
                    Capa.status.in_(TYPES["capa"][1]),
                    or_(
                        Capa.due_date < on,
                        exists().where(
                            CapaAction.capa_id == Capa.id,
                            CapaAction.status == "open",
                            CapaAction.due_date < on,
                        ),
                    ),
                )
            )
        ),
        "change": count(ChangeRequest, TYPES["change"][1], ChangeRequest.target_date),
        "complaint": len(complaints.list_complaints(session, overdue=True, on=on)),
        "recall": sum(1 for r in session.scalars(select(Recall)) if recalls.is_overdue(r)),
        "audit": count(Audit, TYPES["audit"][1], Audit.planned_end),
        "risk": None,
        "pqr": None,
        "validation": None,
        "dossier": None,
        "supplier_qualification": None,
    }


@pytest.mark.clause("SH-6.2.4", "TJ-6.4.4")
def test_the_dashboard_counts_every_quality_record_type_as_plain_queries_do(db: Database) -> None:
    with db.sessions() as session:
        board = service.dashboard(session)
        assert board.on == clock.today()
        assert [r.kind for r in board.rows] == list(TYPES)
        overdue = _overdue(session, board.on)
        for kind, (model, opened) in TYPES.items():
            row = board.row(kind)
            counted = _by_status(session, model)
            assert {s: n for s, n in row.by_status.items() if n} == counted, kind
            assert row.open == sum(n for s, n in counted.items() if s in opened), kind
            assert row.total == sum(counted.values()), kind
            assert sum(row.ageing.values()) == row.open, kind
            assert row.overdue == overdue[kind], kind
        assert board.total > 0 and board.open > 0  # the demo plant has quality records of every kind
        before = board.row("complaint")

    who = principal(db, "chenjing")
    batch = demo_codes(db).batch_done
    body = ComplaintCreate.model_validate({"channel": "phone", "complainant_name": "王药师", "category": "quality",
                                           "description": "溶液中有可见异物", "batch_no": batch})  # fmt: skip
    with UnitOfWork(db, who.actor) as uow:
        complaints.create_complaint(uow, who, body)
        uow.commit()

    with db.sessions() as session:
        board = service.dashboard(session)
    after = board.row("complaint")
    assert (after.open, after.total) == (before.open + 1, before.total + 1)
    assert after.by_status["received"] == before.by_status["received"] + 1
    assert after.ageing == {**before.ageing, "0-30": before.ageing["0-30"] + 1}
    assert board.row("deviation") is not None and service.ageing_bucket(30) == "0-30"

    # a CAPA on time whose open action is past its own due date counts as overdue (the action is the late work)
    with db.sessions() as session:
        on_time = session.scalars(
            select(Capa).where(Capa.status.in_(TYPES["capa"][1]), Capa.due_date >= board.on)
        )
        capa, action = next((c, a) for c in on_time for a in c.actions if a.status == "open")
        late_before = board.row("capa").overdue
    with behind_the_apps_back(db) as connection:
        connection.execute(update(CapaAction).where(CapaAction.id == action.id).values(
            due_date=board.on - timedelta(days=1)))  # fmt: skip
    with db.sessions() as session:
        assert service.dashboard(session).row("capa").overdue == (late_before or 0) + 1, capa.number
    assert [service.ageing_bucket(d) for d in (31, 60, 61, 90, 91)] == [
        "31-60",
        "31-60",
        "61-90",
        "61-90",
        "over-90",
    ]


def _cells(page: str, kind: str) -> dict[str, str]:
    found = re.search(rf'<tr data-testid="dashboard-row" data-type="{kind}">(.*?)</tr>', page, re.S)
    assert found is not None, kind
    return {
        cell: re.sub(r"<[^>]+>", "", text).strip()
        for cell, text in re.findall(r'<td data-cell="([^"]+)"[^>]*>(.*?)</td>', found.group(1), re.S)
    }


@pytest.mark.pages
@pytest.mark.clause("SH-6.2.4", "TJ-6.4.4")
def test_the_page_shows_every_type_with_links_and_the_chart_to_a_quality_reader_only(
    client: TestClient, db: Database
) -> None:
    log_in(client, "chenjing", language="en")
    page = client.get("/qms").text
    assert client.get("/qms/").status_code == 200
    with db.sessions() as session:
        board = service.dashboard(session)
    assert "Quality overview" in page and 'href="/qms" class="active"' in page  # the Overview tab, active
    for row in board.rows:
        cells = _cells(page, row.kind)
        assert cells["open"] == str(row.open), row.kind
        assert cells["overdue"] == ("—" if row.overdue is None else str(row.overdue)), row.kind
        assert cells["total"] == str(row.total), row.kind
        assert [cells[b] for b in service.AGEING_BUCKETS] == [
            str(row.ageing[b]) for b in service.AGEING_BUCKETS
        ]
    assert 'href="/qms/complaints?overdue=true"' in page and 'href="/qms/audits?status=open"' in page
    assert 'href="/qms/deviations?status=active"' in page and 'href="/qms/capa?status=closed"' in page
    assert '<script src="/static/vendor/echarts.min.js"></script>' in page
    with db.sessions() as session:
        due = service.reminders(session)
    shown = re.findall(r'data-testid="reminder" data-kind="([^"]+)" data-reference="([^"]+)"', page)
    assert due and shown == [(r.kind, r.reference) for r in due]

    embedded = re.search(
        r'<script type="application/json" id="qms-chart-data"[^>]*>(.*?)</script>', page, re.S
    )
    assert embedded is not None
    chart = json.loads(embedded.group(1))
    assert chart["kinds"] == [r.kind for r in board.rows]
    assert chart["types"][:2] == ["Deviations", "CAPA"]
    assert [s["bucket"] for s in chart["series"]] == list(service.AGEING_BUCKETS)
    for series in chart["series"]:
        assert series["data"] == [r.ageing[series["bucket"]] for r in board.rows]

    home = client.get("/").text  # the QMS area now lands on the dashboard
    assert 'href="/qms"' in home

    log_in(client, "zhangwei", language="en")  # an operator: no qms.view
    assert client.get("/qms").status_code == 403


@pytest.mark.clause("SH-6.2.4", "SH-6.3.2.1.c")
def test_the_reminders_list_what_falls_due_from_each_service_soonest_first(db: Database) -> None:
    with db.sessions() as session:
        found = service.reminders(session)
        on = clock.today()
        # the demo: the manufacturing licence within its lead time, 裕民红花's approval expired on 2026-10-31
        by_kind = {r.kind: r for r in found}
        assert set(by_kind) >= {"dossier", "supplier"}, found
        licence = by_kind["dossier"]
        dossier = session.scalars(select(Dossier).where(Dossier.number == licence.reference)).one()
        assert (licence.due, licence.days_left) == (dossier.valid_until, (dossier.valid_until - on).days)
        assert licence.url == f"/qms/dossiers/{dossier.number}"
        expired = next(r for r in found if r.reference == "SUP-YM-HH · HB-HH-001")
        assert expired.days_left < 0 and "kind=requalification" in expired.url
        assert [(r.due, r.kind) for r in found] == sorted((r.due, r.kind) for r in found)
        # a completed validation comes due when its revalidation date nears (a plain write, as a clock would)
        completed = session.scalars(select(Validation).where(Validation.status == "completed")).first()
        assert completed is not None and not any(r.kind == "validation" for r in found)
    with behind_the_apps_back(db) as connection:
        connection.execute(update(Validation).where(Validation.id == completed.id).values(
            revalidation_due=on + timedelta(days=10)))  # fmt: skip
    with db.sessions() as session:
        (due,) = [r for r in service.reminders(session) if r.kind == "validation"]
    assert (due.reference, due.days_left, due.url) == (
        completed.number,
        10,
        f"/qms/validation/{completed.number}",
    )
