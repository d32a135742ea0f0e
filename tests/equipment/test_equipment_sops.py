"""The SOPs of equipment and rooms in place: the page shows each SOP's current effective version linked to the
floor view, follows a new version the moment it becomes effective, warns when none is effective, and bad
links are refused (TJ-6.1, SH-6.3.3)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from helpers import actor, audit_entries, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service as documents
from pharmatrace.documents.schemas import ApproveDecision, ReviewDecision, WithdrawDecision
from pharmatrace.equipment import sops
from pharmatrace.equipment.models import Equipment, EquipmentSop, Room
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app


@contextmanager
def logged_in(db: Database, login: str) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        client.cookies.set("pt_lang", "en")
        assert client.post("/login", data={"login": login, "password": DEMO_PASSWORD}).status_code == 200
        yield client


def id_of(db: Database, model: type[Equipment] | type[Room], code: str) -> int:
    with db.sessions() as session:
        found = session.scalar(select(model.id).where(model.code == code))
        assert found is not None, code
        return int(found)


def sop_row(html: str, number: str, purpose: str) -> str:
    match = re.search(rf'<tr data-sop="{number}" data-purpose="{purpose}">(.*?)</tr>', html, re.S)
    assert match is not None, (number, purpose)
    return match.group(1)


def review_and_approve(db: Database, number: str) -> None:
    reviewer, approver = principal(db, "chenjing"), principal(db, "zhaomin")
    with UnitOfWork(db, reviewer.actor) as uow:
        documents.review(uow, reviewer, number, ReviewDecision(login="chenjing", password=DEMO_PASSWORD))
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        documents.approve(uow, approver, number, ApproveDecision(login="zhaomin", password=DEMO_PASSWORD))
        uow.commit()


@pytest.mark.clause("TJ-6.1", "SH-6.3.3")
def test_the_equipment_page_shows_the_current_version_and_follows_v2_when_it_becomes_effective(
    db: Database,
) -> None:
    filler = id_of(db, Equipment, "FL-01")
    with logged_in(db, "zhangwei") as operator:
        page = operator.get(f"/equipment/{filler}")
        assert page.status_code == 200
        row = sop_row(page.text, "SOP-PR-006", "operation")
        assert 'href="/documents/floor/SOP-PR-006"' in row and "Version 1<" in row  # v2 is only in review
        lyo = operator.get(f"/equipment/{id_of(db, Equipment, 'FD-01')}").text
        assert "Version 2<" in sop_row(lyo, "SOP-PR-007", "operation")  # the urgent change is effective
        assert 'data-testid="sop-form"' not in page.text  # operators do not manage the links
        review_and_approve(db, "SOP-PR-006")
        after = sop_row(operator.get(f"/equipment/{filler}").text, "SOP-PR-006", "operation")
        assert "Version 2<" in after and "Version 1<" not in after
        floor = operator.get("/documents/floor/SOP-PR-006")
        assert floor.status_code == 200
    with db.sessions() as session:
        shown = [
            s for s in sops.sops_public(session, equipment_id=filler) if s.document_number == "SOP-PR-006"
        ]
        current = documents.current_effective(session, "SOP-PR-006")
        assert current is not None and [s.version_id for s in shown] == [current.id]


@pytest.mark.clause("TJ-6.1", "SH-6.3.2.1")
def test_an_engineer_names_and_voids_a_room_sop_and_the_trail_keeps_both(db: Database) -> None:
    room = id_of(db, Room, "RM-FILL")
    with logged_in(db, "wuhao") as engineer:
        page = engineer.get(f"/equipment/rooms/{room}")
        assert 'data-testid="sop-form"' in page.text
        made = engineer.post(
            f"/equipment/rooms/{room}/sops",
            data={"purpose": "maintenance", "document_number": " sop-eq-202 "},
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
        shown = engineer.get(f"/equipment/rooms/{room}").text
        assert "Version 1<" in sop_row(shown, "SOP-EQ-202", "maintenance")
        with db.sessions() as session:
            link = session.scalar(
                select(EquipmentSop).where(
                    EquipmentSop.room_id == room, EquipmentSop.document_number == "SOP-EQ-202"
                )
            )
            assert link is not None and link.created_by == "wuhao"
            link_id = link.id
        no_reason = engineer.post(f"/equipment/rooms/{room}/sops/{link_id}/void", data={"reason": ""})
        assert no_reason.status_code == 422
        voided = engineer.post(
            f"/equipment/rooms/{room}/sops/{link_id}/void",
            data={"reason": "由设备维护规程统一管理"},
            follow_redirects=False,
        )
        assert voided.status_code == 303
        assert 'data-sop="SOP-EQ-202"' not in engineer.get(f"/equipment/rooms/{room}").text
    trail = audit_entries(db, object_type="equipment_sop", object_id=str(link_id))
    assert [e.event for e in trail] == ["create", "void"]
    assert trail[-1].reason == "由设备维护规程统一管理"


@pytest.mark.clause("TJ-6.1", "SH-7.1.2")
def test_bad_sop_links_are_refused_and_change_nothing(db: Database) -> None:
    filler = id_of(db, Equipment, "FL-01")
    before = count_rows(db, EquipmentSop)
    with logged_in(db, "wuhao") as engineer:
        unknown = engineer.post(
            f"/equipment/{filler}/sops", data={"purpose": "cleaning", "document_number": "SOP-XX-999"}
        )
        assert unknown.status_code == 404 and "No document SOP-XX-999" in unknown.text
        malformed = engineer.post(
            f"/equipment/{filler}/sops", data={"purpose": "cleaning", "document_number": "清洁规程"}
        )
        assert malformed.status_code == 422 and 'data-testid="field-error-document_number"' in malformed.text
        purpose = engineer.post(
            f"/equipment/{filler}/sops", data={"purpose": "storage", "document_number": "SOP-CL-103"}
        )
        assert purpose.status_code == 422
        twice = engineer.post(
            f"/equipment/{filler}/sops", data={"purpose": "cleaning", "document_number": "SOP-EQ-211"}
        )
        assert twice.status_code == 409 and "already named" in twice.text
    with logged_in(db, "zhangwei") as operator:  # equipment.manage only
        assert (
            operator.post(
                f"/equipment/{filler}/sops", data={"purpose": "cleaning", "document_number": "SOP-CL-103"}
            ).status_code
            == 403
        )
    assert count_rows(db, EquipmentSop) == before
    body = sops.SopLinkCreate(purpose="cleaning", document_number="SOP-CL-103")
    with UnitOfWork(db, actor(db, "wuhao")) as uow, pytest.raises(NotFound) as no_target:
        sops.link_sop(uow, body, equipment_id=999_999)
    assert str(no_target.value) == "No equipment with id 999999"
    with UnitOfWork(db, actor(db, "wuhao")) as uow, pytest.raises(ValidationFailed):
        sops.link_sop(uow, body)  # neither equipment nor room: refused before anything


@pytest.mark.clause("TJ-6.1", "SH-6.3.3")
def test_a_withdrawn_document_is_refused_and_a_named_one_shows_a_warning(db: Database) -> None:
    room = id_of(db, Room, "RM-PACK")
    controller = principal(db, "zhengxue")
    with UnitOfWork(db, controller.actor) as uow:
        documents.withdraw(uow, controller, "SOP-CL-107",
                           WithdrawDecision(login="zhengxue", password=DEMO_PASSWORD, reason="包装间改造，规程作废"))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, actor(db, "wuhao")) as uow, pytest.raises(Conflict) as withdrawn:
        sops.link_sop(
            uow,
            sops.SopLinkCreate(purpose="cleaning", document_number="SOP-CL-107"),
            equipment_id=id_of(db, Equipment, "FL-01"),
        )
    assert str(withdrawn.value) == "Document SOP-CL-107 was withdrawn and may not be used"
    with logged_in(db, "lina") as supervisor:
        row = sop_row(supervisor.get(f"/equipment/rooms/{room}").text, "SOP-CL-107", "cleaning")
        assert 'data-testid="sop-warning"' in row and "/documents/floor/" not in row


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.1")
def test_the_database_refuses_a_link_to_no_document_or_to_two_targets(db: Database) -> None:
    filler, room = id_of(db, Equipment, "FL-01"), id_of(db, Room, "RM-FILL")
    for values in (
        {"equipment_id": filler, "document_number": "SOP-XX-999"},
        {"equipment_id": filler, "room_id": room, "document_number": "SOP-CL-103"},
        {"equipment_id": filler, "document_number": "SOP-PR-006"},  # already named for operation
    ):
        with UnitOfWork(db, actor(db, "wuhao")) as uow, pytest.raises(IntegrityError):
            uow.session.add(
                EquipmentSop(purpose="operation", created_at=clock.now(), created_by="wuhao", **values)
            )
            uow.session.flush()
