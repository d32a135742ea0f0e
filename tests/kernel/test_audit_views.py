"""Audit-trail views: by time (Beijing days), by business object, by event and by operator; the list of
audited functions; every record's own trail; who may look (SH-7.1.3.a/d, TJ-10.1.2.2.a)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from helpers import actor, audit_entries, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit_trail import service
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.errors import ValidationFailed
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app
from pharmatrace.wms import service as wms
from pharmatrace.wms.schemas import MaterialCreate

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

SEEDED_MATERIALS = 12  # the demo seed's materials (pharmatrace.demo.seed.DEMO_MATERIALS)


@contextmanager
def beijing_clock(monkeypatch: pytest.MonkeyPatch, when: str) -> Iterator[None]:
    """Stop the server clock at a Beijing time, so entries land at known moments."""
    moment = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").replace(tzinfo=clock.BEIJING)
    with monkeypatch.context() as patch:
        patch.setattr(clock, "now", lambda: moment)
        yield


def receive_material(db: Database, code: str, name: str = "黄芪（中药材）") -> int:
    with UnitOfWork(db, actor(db, "zhouqiang")) as uow:
        material = wms.create_material(uow, MaterialCreate(code=code, name=name, kind="herb", unit="kg"))
        uow.commit()
        return material.id


def void_material(db: Database, material_id: int, reason: str) -> None:
    with UnitOfWork(db, actor(db, "zhouqiang"), reason=reason) as uow:
        wms.void_material(uow, material_id)
        uow.commit()


def found(db: Database, f: TrailFilter) -> list[tuple[str, str, str]]:
    with db.sessions() as session:
        return [(e.object_type, e.object_id, e.event) for e in service.entries(session, f)]


@contextmanager
def logged_in(db: Database, login: str) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        response = client.post("/login", data={"login": login, "password": DEMO_PASSWORD})
        assert response.status_code == 200
        yield client


# --- the service ----------------------------------------------------------------------------------


@pytest.mark.clause("SH-7.1.3.d", "SH-7.1.5")
def test_a_period_in_beijing_time_selects_exactly_its_entries(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Beijing day starts at 16:00 UTC the day before: the filter must convert, not compare dates."""
    ids = {}
    for code, when in [
        ("HB-T-1", "2020-03-01 23:59:59"),
        ("HB-T-2", "2020-03-02 00:00:00"),
        ("HB-T-3", "2020-03-02 23:59:59"),
        ("HB-T-4", "2020-03-03 00:00:00"),
    ]:
        with beijing_clock(monkeypatch, when):
            ids[code] = str(receive_material(db, code))

    def materials(f: TrailFilter) -> list[str]:
        return sorted(code for code, mid in ids.items() if ("material", mid, "create") in found(db, f))

    assert materials(TrailFilter(since="2020-03-02", until="2020-03-02")) == ["HB-T-2", "HB-T-3"]
    assert materials(TrailFilter(since="2020-03-02 00:00", until="2020-03-02 00:00")) == ["HB-T-2"]
    assert materials(TrailFilter(since="2020-03-02 23:59:59")) == ["HB-T-3", "HB-T-4"]
    assert len(found(db, TrailFilter(until="2020-03-01"))) == 1  # HB-T-1 only: the seed is later


@pytest.mark.clause("SH-7.1.3.d", "TJ-10.1.1.2.c")
def test_filters_by_object_event_operator_and_reason(db: Database) -> None:
    material = str(receive_material(db, "HB-F-1"))
    void_material(db, int(material), "物料停用：供应商资质过期")
    with UnitOfWork(db, actor(db, "sysadmin"), reason="调岗") as uow:
        user = identity.find_user(uow.session, "liuyang")
        assert user is not None
        user.position = "配料岗位操作员"
        uow.commit()

    assert found(db, TrailFilter(object_type="material", object_id=material)) == [
        ("material", material, "void"),
        ("material", material, "create"),
    ]
    assert found(db, TrailFilter(event="void")) == [("material", material, "void")]
    by_keeper = [("material", material, "void"), ("material", material, "create")]
    # (object_type="material": the demo seed's goods receipts are the keeper's own work too)
    assert found(db, TrailFilter(actor="zhouqiang", object_type="material")) == by_keeper
    by_name = found(db, TrailFilter(actor="周强", object_type="material"))  # the full name works too
    assert by_name == by_keeper
    assert found(db, TrailFilter(text="资质过期")) == [("material", material, "void")]
    assert found(db, TrailFilter(actor="zhouqiang", event="create", object_type="material")) == [
        ("material", material, "create")
    ]
    assert found(db, TrailFilter(actor="sysadmin", object_type="user")) == [
        ("user", str(actor(db, "liuyang").user_id), "update")
    ]


@pytest.mark.clause("SH-7.1.3.d", "TJ-10.1.2.2.a", "TJ-10.1.1.2.b")
def test_a_records_trail_includes_its_parts(db: Database) -> None:
    """A user's trail includes the roles granted to it; a role's trail, the permissions granted to it."""
    user_id = str(actor(db, "sysadmin").user_id)
    own = found(db, TrailFilter(object_type="user", object_id=user_id))
    with_parts = found(db, TrailFilter.for_object("user", user_id))
    assert {t for t, _, _ in own} == {"user"}
    grants = [oid for t, oid, _ in with_parts if t == "user_role"]
    assert grants and all(oid.startswith(f"{user_id}:") for oid in grants)

    with db.sessions() as session:
        role = next(r for r in identity.list_roles(session) if r.code == "inspector")
        held = {f"{role.id}:{code}" for code in role.permission_codes}
    role_trail = found(db, TrailFilter.for_object("role", str(role.id)))
    assert ("role", str(role.id), "create") in role_trail
    assert {oid for t, oid, _ in role_trail if t == "role_permission"} == held


@pytest.mark.clause("SH-7.1.3.d")
def test_the_time_line_pages_and_orders(db: Database) -> None:
    f = TrailFilter(object_type="material")
    with db.sessions() as session:
        last = service.entries_page(session, f, page=3, per_page=4)
        newest = service.entries_page(session, f, per_page=1).entries[0]
        oldest = service.entries_page(session, TrailFilter(object_type="material", order="asc"), per_page=1)
    assert (last.total, last.pages, len(last.entries)) == (SEEDED_MATERIALS, 3, SEEDED_MATERIALS - 8)
    assert oldest.entries[0].id < newest.id


@pytest.mark.clause("SH-7.1.3.d")
def test_groups_by_object_event_and_operator(db: Database) -> None:
    receive_material(db, "HB-G-1")
    f = TrailFilter(object_type="material")
    with db.sessions() as session:
        by_object = service.groups(session, f, "object")
        by_event = service.groups(session, f, "event")
        by_actor = service.groups(session, f, "actor")
    assert len(by_object) == SEEDED_MATERIALS + 1 and all(g.count == 1 for g in by_object)
    assert [(g.key, g.count) for g in by_event] == [(("create",), SEEDED_MATERIALS + 1)]
    assert {g.key: g.count for g in by_actor} == {
        ("zhouqiang", "周强"): 1,
        ("system:demo-seed", "system:demo-seed"): SEEDED_MATERIALS,
    }
    assert by_actor[0].key[0] == "zhouqiang"  # latest activity first


@pytest.mark.clause("SH-7.1.3.d")
def test_a_bad_period_is_refused() -> None:
    for since, until in [("2026-13-01", ""), ("yesterday", ""), ("2026-11-02", "2026-11-01")]:
        with pytest.raises(ValidationFailed):
            TrailFilter(since=since, until=until)


@pytest.mark.clause("SH-7.1.3.a", "TJ-10.1.1.2.b")
def test_the_list_of_audited_functions_is_derived_from_the_models() -> None:
    records = {r.object_type: r for r in service.audited_records()}
    assert {"user", "role", "role_permission", "user_role", "setting", "material"} <= set(records)
    assert records["material"].operations == ("create", "update", "void")
    assert records["role_permission"].operations == ("create", "update", "delete")
    assert records["user"].parts == ("user_role",)
    assert records["role"].parts == ("role_permission",)
    assert records["setting"].table == "settings"
    assert all(r.label != r.object_type for r in records.values() if r.object_type in ("user", "material"))
    events = {e.event for e in service.audited_events()}
    assert {
        "login.success",
        "login.failure",
        "login.locked",
        "logout",
        "audit.export",
        "clock.alarm",
    } <= events


# --- pages and API --------------------------------------------------------------------------------


@pytest.mark.clause("SH-7.1.3.d")
def test_the_trail_page_filters_with_htmx_and_links_every_row_to_its_object(db: Database) -> None:
    with logged_in(db, "chenjing") as client:
        page = client.get("/audit")
        assert page.status_code == 200
        assert 'href="/audit/functions"' in page.text and 'hx-get="/audit"' in page.text
        partial = client.get("/audit?object_type=material&event=create", headers={"hx-request": "true"})
        assert partial.status_code == 200 and "<html" not in partial.text
        assert partial.text.count("data-entry=") == SEEDED_MATERIALS
        assert partial.text.count('href="/audit/object/material/') == SEEDED_MATERIALS
        by_event = client.get("/audit?view=event&object_type=material")
        assert "<code>create</code>" in by_event.text and 'href="/audit?object_type=material' in by_event.text
        by_actor = client.get("/audit?view=actor")
        assert "system:demo-seed" in by_actor.text
        by_object = client.get("/audit?view=object&object_type=role")
        with db.sessions() as session:
            roles = len(identity.list_roles(session))
        assert by_object.text.count('href="/audit/object/role/') == roles
        bad = client.get("/audit?since=2026-02-30")
        assert bad.status_code == 422 and 'data-testid="filter-error"' in bad.text
        bad_partial = client.get("/audit?since=2026-02-30", headers={"hx-request": "true"})
        assert bad_partial.status_code == 200 and "2026-02-30" in bad_partial.text


@pytest.mark.clause("SH-7.1.3.d")
def test_every_material_row_links_to_its_own_trail(db: Database) -> None:
    material = receive_material(db, "HB-L-1", "黄芪（中药材）")
    with logged_in(db, "chenjing") as client:
        listing = client.get("/wms/materials")
        assert listing.text.count('data-testid="material-trail"') == SEEDED_MATERIALS + 1
        trail = client.get(f"/audit/object/material/{material}")
        assert trail.status_code == 200
        assert "HB-L-1" in trail.text and "周强 (zhouqiang)" in trail.text
    with logged_in(db, "zhouqiang") as keeper:  # no audit.trail.view: no link
        assert 'data-testid="material-trail"' not in keeper.get("/wms/materials").text


@pytest.mark.clause("TJ-10.1.2.2.a")
def test_permission_changes_are_listed_on_the_roles_page(db: Database) -> None:
    with db.sessions() as session:
        roles = identity.list_roles(session)
        operator = next(r for r in roles if r.code == "production_operator")
        cells = [("grant", f"{r.id}:{c}") for r in roles for c in sorted(r.permission_codes)]
    cells.append(("grant", f"{operator.id}:lims.view"))
    with logged_in(db, "sysadmin") as client:
        from urllib.parse import urlencode

        saved = client.post(
            "/admin/permissions",
            content=urlencode([*cells, ("reason", "操作员需查看中控检验结果")]),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert saved.status_code == 200
        page = client.get("/admin/roles")
        history = page.text.split('data-testid="permission-changes"')[1]
        first_row = history.split("<tr>")[2]
        assert "production_operator" in first_row and "lims.view" in first_row
        assert "操作员需查看中控检验结果" in first_row
        role_trail = client.get(f"/audit/object/role/{operator.id}")
        assert f"{operator.id}:lims.view" in role_trail.text


@pytest.mark.clause("SH-7.1.3.a")
def test_the_functions_page_and_api_list_what_is_audited(db: Database) -> None:
    with UnitOfWork(db, actor(db, "zhouqiang")) as uow:  # an event some code path forgot to register
        uow.record("label.printed", "material", 1)
        uow.commit()
    with logged_in(db, "inspector") as client:
        page = client.get("/audit/functions")
        for audit_type in ("user", "role", "role_permission", "user_role", "setting", "material"):
            assert f'data-type="{audit_type}"' in page.text
        assert 'data-event="login.failure"' in page.text
        listed = client.get("/api/v1/audit/functions").json()
        assert {"material", "setting"} <= {r["object_type"] for r in listed["records"]}
        assert "audit.export" in {e["event"] for e in listed["events"]}
        assert "label.printed" in listed["other_events"]  # found in the trail: listed all the same
        assert 'href="/audit?event=label.printed"' in page.text


@pytest.mark.clause("SH-7.1.3.d", "TJ-B.2.5")
def test_the_api_filters_like_the_page(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        headers = token(client, "sunli")  # QC reviewer
        page = client.get("/api/v1/audit?object_type=material&event=create&per_page=5", headers=headers)
        assert page.status_code == 200
        body = page.json()
        assert (body["total"], len(body["entries"])) == (SEEDED_MATERIALS, 5)
        entry = body["entries"][0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["at_beijing"])
        assert entry["changes"]["code"][0] is None
        bad = client.get("/api/v1/audit?since=2026-02-30", headers=headers)
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "validation_failed"


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.2.c")
def test_users_without_the_audit_permission_are_refused(db: Database) -> None:
    before = len(audit_entries(db))
    for login in ("zhouqiang", "zhangwei"):
        with logged_in(db, login) as client:
            for url in ("/audit", "/audit/functions", "/audit/object/material/1"):
                assert client.get(url).status_code == 403, url
            assert client.post("/audit/export", data={"format": "csv"}).status_code == 403
            assert client.get("/api/v1/audit/export").status_code == 403
    assert [e.event for e in audit_entries(db)[before:]] == ["login.success", "login.success"]
