"""Administration pages: the editable permission matrix, the access review export, security settings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from helpers import audit_entries
from pharmatrace.kernel.identity import service as identity
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.fixture
def admin(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        assert client.post("/login", data={"login": "sysadmin", "password": "Pharma@2026"}).status_code == 200
        yield client


def _grants(db: Database) -> dict[int, set[str]]:
    with db.sessions() as session:
        return {r.id: r.permission_codes for r in identity.list_roles(session)}


def _role_id(db: Database, code: str) -> int:
    with db.sessions() as session:
        return next(r.id for r in identity.list_roles(session) if r.code == code)


def _cells(grants: dict[int, set[str]]) -> list[tuple[str, str]]:
    return [("grant", f"{rid}:{code}") for rid, codes in grants.items() for code in sorted(codes)]


def _post_form(client: TestClient, url: str, fields: list[tuple[str, str]]) -> Response:
    """A form with repeated fields, encoded as the browser does."""
    return client.post(
        url, content=urlencode(fields), headers={"content-type": "application/x-www-form-urlencoded"}
    )


@pytest.mark.clause("TJ-10.1.2.2.a", "SH-7.1.2", "TJ-10.1.1.2.b")
def test_the_matrix_saves_a_grant_with_its_reason(admin: TestClient, db: Database) -> None:
    grants = _grants(db)
    operator = _role_id(db, "production_operator")
    grants[operator] = grants[operator] | {"lims.view"}
    response = _post_form(
        admin, "/admin/permissions", [*_cells(grants), ("reason", "操作员需查看中控检验结果")]
    )
    assert response.status_code == 200 and "已保存" in response.text
    assert "lims.view" in _grants(db)[operator]
    [entry] = [
        e for e in audit_entries(db, object_type="role_permission") if e.object_id == f"{operator}:lims.view"
    ]
    assert (entry.event, entry.reason, entry.actor_login) == (
        "create",
        "操作员需查看中控检验结果",
        "sysadmin",
    )


@pytest.mark.clause("TJ-10.1.2.2.b", "TJ-10.1.2.2.c")
def test_the_matrix_refuses_a_cell_across_kinds_and_changes_nothing(admin: TestClient, db: Database) -> None:
    before = _grants(db)
    grants = {rid: set(codes) for rid, codes in before.items()}
    grants[_role_id(db, "production_operator")].add("lims.view")  # a fine change…
    grants[_role_id(db, "system_admin")].add("qms.release.decide")  # …and one SoD violation in the same form
    response = _post_form(admin, "/admin/permissions", [*_cells(grants), ("reason", "尝试")])
    assert response.status_code == 403
    assert "qms.release.decide" in response.text
    assert _grants(db) == before


@pytest.mark.clause("TJ-10.1.1.1", "TJ-10.1.2.2.a")
def test_the_matrix_needs_a_reason(admin: TestClient, db: Database) -> None:
    before = _grants(db)
    response = _post_form(admin, "/admin/permissions", _cells({rid: set() for rid in before}))
    assert response.status_code == 422
    assert _grants(db) == before


@pytest.mark.clause("TJ-10.1.2.2.d")
def test_the_access_review_exports_csv(admin: TestClient) -> None:
    response = admin.get("/admin/access-review?format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))
    assert rows[0][0] == "登录账号"
    assert len(rows) == 15  # the header and the 14 demo users (with the second qualified person qianyu)
    zhaomin = next(r for r in rows if r[0] == "zhaomin")
    assert "质量受权人" in zhaomin[5]


@pytest.mark.clause("SH-8.5.2", "TJ-10.1.1.2.b")
def test_security_settings_are_validated_and_audited(admin: TestClient, db: Database) -> None:
    bad = admin.post(
        "/admin/settings",
        data={
            "min_length": "6",
            "min_classes": "3",
            "history": "5",
            "expiry_days": "90",
            "lockout_threshold": "5",
            "idle_timeout_minutes": "15",
            "reason": "放宽",
        },
    )
    assert bad.status_code == 422
    good = admin.post(
        "/admin/settings",
        data={
            "min_length": "10",
            "min_classes": "3",
            "history": "5",
            "expiry_days": "90",
            "lockout_threshold": "5",
            "idle_timeout_minutes": "10",
            "reason": "年度安全评审",
        },
    )
    assert good.status_code == 200
    with db.sessions() as session:
        assert identity.password_policy(session).idle_timeout_minutes == 10
    policy = audit_entries(db, object_type="setting", object_id=identity.POLICY_KEY)
    assert [e.reason for e in policy] == ["年度安全评审"]


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.2.b")
def test_business_users_cannot_open_administration_pages(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "zhangwei", "password": "Pharma@2026"})
        for url in ["/admin/users", "/admin/permissions", "/admin/settings", "/admin/users/new"]:
            assert client.get(url).status_code == 403, url
        assert client.post("/admin/users/2/deactivate", data={"reason": "x"}).status_code == 403
