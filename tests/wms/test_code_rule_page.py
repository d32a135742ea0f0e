"""The code-rule page (issue 5 item 3; TJ-6.3.1, TJ-B.2.2.1): the rule, its fields' meaning, the type codes
and a preview of the next lot number per kind; the administrator changes it with a reason, refusals
re-render with the message and change nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import LOGIN_BY_ROLE, audit_entries, log_in, principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app
from pharmatrace.wms import codes
from pharmatrace.wms.models import MATERIAL_KINDS, CodeCounter

KEEPER = LOGIN_BY_ROLE["warehouse_keeper"]
ENGINEER = LOGIN_BY_ROLE["equipment_engineer"]
ADMIN = "sysadmin"


def form(**changes: str) -> dict[str, str]:
    values = {"pattern": codes.DEFAULT_PATTERN, "serial_digits": "6", "reason": "SOP-WM-003 第3版",
              **{f"type_code_{k}": v for k, v in codes.DEFAULT_TYPE_CODES.items()}}  # fmt: skip
    values.update(changes)
    return values


def rule_changes(db: Database) -> int:
    return len(audit_entries(db, object_type="setting", object_id=codes.SETTINGS_KEY))


def counters(db: Database) -> dict[str, int]:
    with db.sessions() as session:
        return {c.prefix: c.last_serial for c in session.scalars(select(CodeCounter))}


@pytest.mark.clause("TJ-6.3.1", "TJ-B.2.2.1")
def test_the_warehouse_sees_the_rule_its_meaning_and_the_next_lot_number_per_kind(db: Database) -> None:
    before = counters(db)
    with TestClient(create_app(db)) as client:
        log_in(client, KEEPER)
        assert 'href="/wms/code-rule"' in client.get("/wms/materials").text
        page = client.get("/wms/code-rule")
    assert page.status_code == 200
    assert re.search(r'data-testid="code-rule-pattern">\{type\}\{yy\}\{mm\}\{serial\}<', page.text)
    previews = dict(re.findall(r'data-testid="preview-([a-z_]+)">([A-Z0-9]+)<', page.text))
    assert set(previews) == set(MATERIAL_KINDS)
    assert 'data-testid="code-rule-form"' not in page.text  # the keeper reads, the administrator changes
    assert counters(db) == before  # the preview drew nothing
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        assert codes.next_lot_number(uow.session, "herb") == previews["herb"]
        assert codes.next_lot_number(uow.session, "excipient") == previews["excipient"]


@pytest.mark.clause("TJ-6.3.1", "TJ-10.1.1.2.b", "SH-7.1.2")
def test_the_administrator_changes_the_rule_with_a_reason_and_refusals_re_render(db: Database) -> None:
    before = rule_changes(db)
    with TestClient(create_app(db)) as client:
        log_in(client, ADMIN)
        page = client.get("/wms/code-rule")
        assert page.status_code == 200 and 'data-testid="code-rule-form"' in page.text
        bad = client.post("/wms/code-rule", data=form(pattern="{type}-{serial}"))
        assert bad.status_code == 422 and 'data-testid="field-error-pattern"' in bad.text
        same = client.post("/wms/code-rule", data=form(type_code_extract="YC"))
        assert same.status_code == 422 and 'data-testid="error"' in same.text
        no_reason = client.post("/wms/code-rule", data=form(reason=""))
        assert no_reason.status_code == 422 and 'data-testid="field-error-reason"' in no_reason.text
        assert rule_changes(db) == before
        done = client.post("/wms/code-rule", data=form(type_code_extract="TJ"), follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/wms/code-rule?done=1"
        shown = client.get("/wms/code-rule").text
        assert re.search(r'data-testid="preview-extract">TJ\d{4}\d{6}<', shown)
    change = audit_entries(db, object_type="setting", object_id=codes.SETTINGS_KEY)[-1]
    assert (change.actor_login, change.reason, rule_changes(db)) == (ADMIN, "SOP-WM-003 第3版", before + 1)
    with db.sessions() as session:
        assert codes.code_rule(session).serial_digits == 6


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.2.c")
def test_who_may_not_change_or_read_the_rule_is_refused(db: Database) -> None:
    before = rule_changes(db)
    with TestClient(create_app(db)) as client:
        log_in(client, KEEPER)
        refused = client.post("/wms/code-rule", data=form())
        assert refused.status_code == 403
        log_in(client, ENGINEER)  # no warehouse view, no settings
        assert client.get("/wms/code-rule").status_code == 403
    assert rule_changes(db) == before
