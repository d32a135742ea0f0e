"""Due-date extensions, read like the SOP: whoever works an open deviation, CAPA or change asks for a later due date
with the justification and the interim measures; QA — never the requester — approves it by signature on the SM3 of
the request, and in the same unit of work the record's due date moves, its original kept visible and the audit trail
naming the extension; QA may reject it, the requester withdraw it, each with a reason. Every refusal changes
nothing; the database keeps a decided request and the signed approval as they were (TJ-6.4.4, SH-6.2.4, SH-7.1.4)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, log_in, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, crypto
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import capa, changes, deviations
from pharmatrace.qms import extensions as service
from pharmatrace.qms.extension_models import DueDateExtension, ExtensionDecision
from pharmatrace.qms.extension_schemas import ExtensionApprove, ExtensionRequest
from pharmatrace.storage.engine import Database

REQUESTER, QA, NOT_QA, OPERATOR = (
    "zhaomin",
    "chenjing",
    "lina",
    "zhangwei",
)  # zhaomin: QA too, and may not decide
OPEN_RECORDS = {
    "deviation": "SELECT number FROM deviations WHERE status IN ('open', 'classified', 'investigating', "
    "'investigated') ORDER BY id LIMIT 1",
    "capa": "SELECT number FROM qms_capas WHERE status IN ('draft', 'approved', 'implementation', "
    "'effectiveness_pending') ORDER BY id LIMIT 1",
    "change": "SELECT number FROM qms_changes WHERE status IN ('draft', 'approved', 'in_implementation', "
    "'verification') ORDER BY id LIMIT 1",
}
AUDIT_TYPES = {"deviation": "deviation", "capa": "qms_capa", "change": "qms_change"}
OVERDUE = {"deviation": deviations.is_overdue, "capa": capa.is_overdue, "change": changes.is_overdue}


def _open(db: Database, kind: str) -> str:
    with db.sessions() as session:
        number = session.scalar(text(OPEN_RECORDS[kind]))
    assert number, f"the demo plant has no open {kind}"
    return str(number)


def _due(db: Database, kind: str, number: str) -> date:
    with db.sessions() as session:
        due = service.due_of(kind, service.get_record(session, kind, number))
    assert due is not None
    return due


def _later(db: Database, kind: str, number: str, days: int = 10) -> date:
    return max(_due(db, kind, number), clock.today()) + timedelta(days=days)


def _do(db: Database, login: str, write: Any) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
        return getattr(result, "id", result)


def _ask(kind: str, number: str, new_due: date, why: str = "供应商延迟交付替换部件") -> Any:
    body = ExtensionRequest(new_due=new_due, justification=why, interim_measures="加强目视检查，每班复核")
    return lambda uow, who: service.request_extension(uow, who, kind, number, body)


def _approve(extension_id: int, password: str = DEMO_PASSWORD) -> Any:
    return lambda uow, who: service.approve(
        uow, who, extension_id, ExtensionApprove(password=password, login=who.login, comment="同意延期")
    )


def _state(db: Database) -> tuple[Any, ...]:
    with db.sessions() as session:
        rows = session.execute(
            text("SELECT id, status, new_due FROM qms_due_date_extensions ORDER BY id")
        ).all()
    counts = tuple(count_rows(db, m) for m in (DueDateExtension, ExtensionDecision, Signature))
    return (*counts, tuple(tuple(r) for r in rows))


def _refused(db: Database, error: Any, login: str, write: Any, match: str | None = None) -> None:
    """``write`` is refused with ``error`` and changes nothing (a wrong password only counts towards lock-out)."""
    before, trail = _state(db), count_rows(db, AuditEntry)
    who = principal(db, login)
    with pytest.raises(error, match=match), UnitOfWork(db, who.actor) as uow:
        write(uow, who)
        uow.commit()
    assert _state(db) == before
    if error is not AuthenticationFailed:
        assert count_rows(db, AuditEntry) == trail


@pytest.mark.clause("TJ-6.4.4", "SH-6.2.4", "SH-7.1.4", "SH-7.1.3")
def test_a_deviation_a_capa_and_a_change_get_more_time_by_qas_signature(db: Database) -> None:
    for kind in ("deviation", "capa", "change"):
        number = _open(db, kind)
        original, new_due = _due(db, kind, number), _later(db, kind, number)
        extension_id = _do(db, REQUESTER, _ask(kind, number, new_due))
        with db.sessions() as session:
            assert [
                (e.status, e.due_before) for e in service.extensions_of(session, kind, number.lower())
            ] == [("requested", original)]

        # SH-7.1.4: never the requester, never without QA's permission, never without the right password
        _refused(db, NotPermitted, REQUESTER, _approve(extension_id), "requested")
        _refused(db, NotPermitted, NOT_QA, _approve(extension_id))
        _refused(db, AuthenticationFailed, QA, _approve(extension_id, "wrong-password"))
        assert _due(db, kind, number) == original

        _do(db, QA, _approve(extension_id))
        assert _due(db, kind, number) == new_due
        with db.sessions() as session:
            assert service.original_due(session, kind, number) == original
            assert service.times_extended(session, kind, number) == 1
            record = service.get_record(session, kind, number)
            # the module's own overdue check reads the extended due date
            assert not OVERDUE[kind](record, new_due) and OVERDUE[kind](record, new_due + timedelta(days=1))
            shown = service.extension_public(session, service.get_extension(session, extension_id))
            decision = service.get_extension(session, extension_id).decisions[0]
            record_id = str(record.id)
        assert shown.status == "approved" and shown.decided_by == QA and shown.requested_by == REQUESTER
        assert [(s.signer_login, s.status) for s in shown.signatures] == [(QA, "valid")]
        assert decision.content_sm3 == crypto.sm3(decision.content.encode()).hex() == shown.content_sm3
        assert new_due.isoformat() in decision.content and "供应商延迟交付替换部件" in decision.content
        reason = audit_entries(db, object_type=AUDIT_TYPES[kind], object_id=record_id)[-1].reason or ""
        assert f"extension #{extension_id}" in reason and "供应商延迟交付替换部件" in reason, reason
        assert original.isoformat() in reason and new_due.isoformat() in reason

    # a second extension of the same record counts on the same original due date
    number = _open(db, "capa")
    first = _due(db, "capa", number)
    second = _do(db, REQUESTER, _ask("capa", number, first + timedelta(days=7), "验证结果复核需要更多时间"))
    _do(db, QA, _approve(second))
    with db.sessions() as session:
        summary = service.summary(session, "capa", number)
    assert (summary.approved, summary.current_due) == (2, first + timedelta(days=7))
    assert summary.original_due is not None and summary.original_due < first


@pytest.mark.clause("TJ-6.4.4", "SH-7.1.4")
def test_every_refusal_is_typed_and_changes_nothing(db: Database) -> None:
    number = _open(db, "deviation")
    due = _due(db, "deviation", number)
    pending = _do(db, REQUESTER, _ask("deviation", number, _later(db, "deviation", number)))
    change = _open(db, "change")
    with db.sessions() as session:
        ended = session.scalar(
            text("SELECT number FROM qms_capas WHERE status IN ('closed', 'cancelled') LIMIT 1")
        )
    assert ended, "the demo plant has no closed CAPA"
    cases: list[tuple[str, Any, str, Any, str | None]] = [
        ("closed record", Conflict, REQUESTER, _ask("capa", ended, date(2099, 1, 1)), "cannot be extended"),
        ("date not later", ValidationFailed, REQUESTER, _ask("change", change, _due(db, "change", change)), "after"),
        ("second open request", Conflict, NOT_QA, _ask("deviation", number, due + timedelta(days=40)), "already"),
        ("unknown record", NotFound, REQUESTER, _ask("deviation", "DEV-1999-9999", date(2099, 1, 1)), None),
        ("unknown kind", NotFound, REQUESTER, _ask("batch", number, date(2099, 1, 1)), None),
        ("change not mine to work", NotPermitted, OPERATOR, _ask("change", change, date(2099, 1, 1)), None),
        ("reject by the requester", NotPermitted, REQUESTER,
         lambda uow, who: service.reject(uow, who, pending, "不同意"), "requested"),
        ("reject by non-QA", NotPermitted, NOT_QA, lambda uow, who: service.reject(uow, who, pending, "不同意"), None),
        ("reject without reason", ValidationFailed, QA, lambda uow, who: service.reject(uow, who, pending, " "), None),
        ("withdraw by another", NotPermitted, QA, lambda uow, who: service.withdraw(uow, who, pending, "撤回"), None),
        ("unknown extension", NotFound, QA, _approve(999999), None),
    ]  # fmt: skip
    for name, error, login, write, match in cases:
        try:
            _refused(db, error, login, write, match)
        except BaseException as failure:
            raise AssertionError(name) from failure
    assert _due(db, "deviation", number) == due

    # once rejected, the request is decided: no approval, no withdrawal; a new request may follow
    _do(db, QA, lambda uow, who: service.reject(uow, who, pending, "调查尚未开展，理由不充分"))
    _refused(db, Conflict, QA, _approve(pending), "already decided")
    _refused(db, Conflict, REQUESTER, lambda uow, who: service.withdraw(uow, who, pending, "撤回"), "already")
    again = _do(db, REQUESTER, _ask("deviation", number, _later(db, "deviation", number, 20)))
    _do(db, REQUESTER, lambda uow, who: service.withdraw(uow, who, again, "已按期完成，无需延期"))
    with db.sessions() as session:
        assert [e.status for e in service.extensions_of(session, "deviation", number)] == [
            "rejected",
            "withdrawn",
        ]
        assert service.times_extended(session, "deviation", number) == 0
    assert _due(db, "deviation", number) == due


@pytest.mark.both  # rules the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.4.4", "SH-7.1.3", "SH-7.1.4")
def test_the_database_keeps_a_decided_request_and_the_signed_approval(db: Database) -> None:
    number = _open(db, "capa")
    approved = _do(db, REQUESTER, _ask("capa", number, _later(db, "capa", number)))
    _do(db, QA, _approve(approved))
    _do(db, REQUESTER, _ask("capa", number, _later(db, "capa", number, 30)))  # waiting
    table = "qms_due_date_extensions"
    for statement in (
        f"UPDATE {table} SET justification = 'x' WHERE id = {approved}",  # decided: frozen
        f"UPDATE {table} SET status = 'requested', decided_at = NULL, decided_by = NULL WHERE id = {approved}",
        f"UPDATE {table} SET new_due = due_before WHERE status = 'requested'",
        f"UPDATE {table} SET status = 'rejected', decided_at = requested_at, decided_by = requested_by, "
        "decision_comment = 'self' WHERE status = 'requested'",  # the requester decides
        f"INSERT INTO {table} (record_kind, record_number, due_before, new_due, justification, interim_measures, "
        "requested_at, requested_by, requested_by_name, status, decision_comment) SELECT record_kind, record_number, "
        f"due_before, new_due, justification, interim_measures, requested_at, requested_by, requested_by_name, "
        f"status, decision_comment FROM {table} WHERE status = 'requested'",  # a second open request
        "UPDATE qms_extension_decisions SET comment = 'x'",
        "DELETE FROM qms_extension_decisions",
        f"DELETE FROM {table}",
    ):
        with pytest.raises(DBAPIError), behind_the_apps_back(db) as connection:
            connection.execute(text(statement))
    with behind_the_apps_back(
        db
    ) as connection:  # a waiting request still changes: only decided rows are frozen
        connection.execute(text(f"UPDATE {table} SET interim_measures = 'y' WHERE status = 'requested'"))


@pytest.mark.pages  # SQLite only: the service is tested on both (ADR 0003)
@pytest.mark.clause("TJ-6.4.4", "SH-6.2.4", "SH-7.1.4")
def test_the_deviation_page_requests_and_approves_an_extension(client: TestClient, db: Database) -> None:
    number = _open(db, "deviation")
    original, new_due = _due(db, "deviation", number), _later(db, "deviation", number)
    page = f"/qms/deviations/{number}"
    log_in(client, REQUESTER, language="en")
    assert 'data-testid="extension-request-form"' in client.get(page).text
    response = client.post(f"/qms/extensions/deviation/{number}", data={"new_due": new_due.isoformat(),
                           "justification": "等待外部实验室报告", "interim_measures": "相关批次暂缓放行"},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303 and response.headers["location"].startswith(page)
    shown = client.get(page).text
    assert 'data-testid="own-extension"' in shown and 'data-testid="extension-approve-form"' not in shown
    assert (
        'data-testid="extension-withdraw-form"' in shown
        and 'data-testid="extension-request-form"' not in shown
    )
    with db.sessions() as session:
        extension_id = service.extensions_of(session, "deviation", number)[0].id

    log_in(client, QA, language="en")
    form = client.get(page).text.split('data-testid="extension-approve-form"')[1].split("</form>")[0]
    assert 'name="password"' in form and 'name="login"' in form  # the session's first signature asks both
    refused = client.post(f"/qms/extensions/{extension_id}/approve", data={"password": "wrong", "login": QA},
                          follow_redirects=True)  # fmt: skip
    assert 'data-testid="error"' in refused.text and _due(db, "deviation", number) == original
    response = client.post(f"/qms/extensions/{extension_id}/approve",
                           data={"password": DEMO_PASSWORD, "login": QA, "comment": "同意"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    shown = client.get(page).text
    assert 'data-testid="extended"' in shown and "×1" in shown
    assert f'data-testid="original-due">{original.isoformat()}' in shown
    assert f'data-testid="current-due">{new_due.isoformat()}' in shown
    assert _due(db, "deviation", number) == new_due
    timeline = shown.split('data-testid="timeline"')[1].split("</table>")[0]  # the request, then the approval
    change = f"{original.isoformat()} → {new_due.isoformat()}"
    requested = timeline.index(
        f"Due-date extension requested</td><td>{_name(db, REQUESTER)}</td><td>{change}"
    )
    assert requested < timeline.index(f"Approved</td><td>{_name(db, QA)}</td><td>{change}: 同意")

    api = client.get(f"/api/v1/qms/extensions/deviation/{number}", headers=token(client, QA)).json()
    assert (api["approved"], api["original_due"], api["extensions"][0]["status"]) == (
        1, original.isoformat(), "approved")  # fmt: skip


def _name(db: Database, login: str) -> str:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None
        return user.full_name
