"""Bad input gets a clear, translated error and changes nothing; no input gives a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import count_rows, token
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.identity.models import User
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

GOOD_USER: dict[str, Any] = {
    "login": "xuli",
    "full_name": "徐丽",
    "employee_no": "E3020",
    "department": "质量控制部",
    "position": "检验员",
    "password": "Initial#2026",
    "roles": ["qc_analyst"],
}


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), raise_server_exceptions=False) as test_client:
        yield test_client


def _state(db: Database) -> tuple[int, int]:
    """How many users and audit entries there are (counted, not loaded: this runs twice per case)."""
    return count_rows(db, User), count_rows(db, AuditEntry)


# Each bad user: (case, change to GOOD_USER, status, error code, field named in the details, text in the message).
BAD_USERS: tuple[tuple[str, dict[str, Any], int, str, str | None, str | None], ...] = (
    ("unknown field", {"nickname": "x"}, 422, "validation_failed", "nickname", "未知字段"),
    ("roles not a list", {"roles": "qc_analyst"}, 422, "validation_failed", "roles", None),
    ("no log-in ID", {"login": None}, 422, "validation_failed", "login", None),
    ("malformed log-in ID", {"login": "Bad Login!"}, 422, "validation_failed", "login", None),
    ("empty full name", {"full_name": ""}, 422, "validation_failed", "full_name", None),
    ("log-in ID taken", {"login": "zhangwei"}, 409, "conflict", None, "zhangwei"),
    ("employee number taken", {"employee_no": "E1001"}, 409, "conflict", None, "E1001"),
    ("password too short (SH-8.5.2)", {"password": "short1A!"[:6]}, 422, "validation_failed", None, "8"),
    ("password too simple (SH-8.5.2)", {"password": "alllowercase"}, 422, "validation_failed", None, None),
    (
        "admin and business roles (TJ-10.1.2.2.b)",
        {"roles": ["qc_analyst", "system_admin"]},
        403,
        "segregation_of_duties",
        None,
        "同时拥有",
    ),
    ("unknown role", {"roles": ["no_such_role"]}, 422, "validation_failed", None, "no_such_role"),
)


@pytest.mark.clause("TJ-10.1.3.2.b", "SH-8.4.2", "SH-8.5.2", "TJ-10.1.2.2.b")
def test_bad_user_creation_is_refused_clearly_and_changes_nothing(client: TestClient, db: Database) -> None:
    """Every bad user in BAD_USERS, one after the other on one database and one log-in: each is refused with
    its status, code, field and message, and leaves the users and the audit trail as they were (so the next
    case starts from the same plant). Every case that differs is named."""
    admin = token(client, "sysadmin")
    failures: list[str] = []
    for case, change, status, code, field, zh in BAD_USERS:
        before = _state(db)
        response = client.post("/api/v1/users", headers=admin, json={**GOOD_USER, **change})
        wrong: list[str] = []
        if response.status_code != status:
            wrong.append(f"status {response.status_code}, expected {status}: {response.text}")
        is_json = response.headers.get("content-type", "").startswith("application/json")
        error = (response.json().get("error") if is_json else None) or {}
        if error.get("code") != code:
            wrong.append(f"code {error.get('code')!r}, expected {code!r}")
        if not error.get("message"):
            wrong.append("no message")
        details = error.get("details") or []
        if field is not None and field not in [d.get("field") for d in details]:
            wrong.append(f"field {field!r} not among the details {details!r}")
        said = str(error.get("message") or "") + "".join(str(d.get("message") or "") for d in details)
        if zh is not None and zh not in said:
            wrong.append(f"{zh!r} not in {said!r}")
        if _state(db) != before:
            wrong.append(f"changed (users, audit entries) {before} -> {_state(db)}")
        if wrong:
            failures.append(f"{case}: " + "; ".join(wrong))
    assert failures == []


@pytest.mark.clause("TJ-10.1.1.1", "SH-8.4.2")
def test_missing_reason_is_refused(client: TestClient, db: Database) -> None:
    admin = token(client, "sysadmin")
    before = _state(db)
    response = client.post("/api/v1/users/2/deactivate", headers=admin, json={})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "reason"
    assert _state(db) == before


@pytest.mark.clause("TJ-4.5", "SH-7.1.1")
def test_errors_are_in_english_when_asked(client: TestClient) -> None:
    admin = token(client, "sysadmin")
    response = client.post(
        "/api/v1/users",
        headers={**admin, "Accept-Language": "en-US,en;q=0.9"},
        json={**GOOD_USER, "login": "zhangwei"},
    )
    assert response.json()["error"]["message"] == "The log-in ID “zhangwei” is already taken"
    zh = client.post("/api/v1/users", headers=admin, json={**GOOD_USER, "login": "zhangwei"})
    assert zh.json()["error"]["message"] != response.json()["error"]["message"]


GARBAGE: list[Any] = [
    None,
    [],
    "text",
    0,
    {"login": {"$ne": 1}},
    {"password": "x" * 10000},
    {"login": "\x00\x01"},
    {"roles": [None]},
    {"permissions": [1, 2]},
    {"reason": "x" * 600},
]


@pytest.mark.clause("TJ-10.1.3.2.b")
def test_no_input_produces_a_500(client: TestClient) -> None:
    admin = token(client, "sysadmin")
    keeper = token(client, "zhouqiang")
    targets = [
        ("POST", "/api/v1/users", admin),
        ("PATCH", "/api/v1/users/2", admin),
        ("PUT", "/api/v1/users/2/roles", admin),
        ("POST", "/api/v1/users/999999/unlock", admin),
        ("POST", "/api/v1/roles", admin),
        ("PUT", "/api/v1/roles/1/permissions", admin),
        ("PUT", "/api/v1/settings/password-policy", admin),
        ("POST", "/api/v1/materials", keeper),
        ("POST", "/api/v1/materials/1/void", keeper),
        ("POST", "/api/v1/auth/token", {}),
        ("GET", "/api/v1/users/not-a-number", admin),
    ]
    for method, url, headers in targets:
        for body in GARBAGE:
            response = client.request(method, url, headers=headers, json=body)
            assert response.status_code < 500, (
                f"{method} {url} {body!r}: {response.status_code} {response.text}"
            )
            assert "error" in response.json()
        raw = client.request(
            method, url, headers={**headers, "content-type": "application/json"}, content=b"{not json"
        )
        assert raw.status_code < 500


@pytest.mark.clause("TJ-10.1.3.2.b", "SH-8.4.2")
def test_ui_forms_show_translated_field_errors_and_change_nothing(client: TestClient, db: Database) -> None:
    client.post("/login", data={"login": "sysadmin", "password": "Pharma@2026"})
    before = _state(db)
    page = client.post("/admin/users/new", data={**GOOD_USER, "login": "", "roles": ["qc_analyst"]})
    assert page.status_code == 422
    assert "格式不正确" in page.text or "必填" in page.text
    duplicate = client.post(
        "/admin/users/new", data={**GOOD_USER, "login": "zhangwei", "roles": ["qc_analyst"]}
    )
    assert duplicate.status_code == 409
    assert "zhangwei" in duplicate.text
    assert _state(db) == before
