"""Equipment pages: the register with search by scanned code, the detail page with status, validity,
logbook and audit trail, the forms, and who sees what (SH-6.3.2.1, TJ-6.1, TJ-6.4.2, SH-7.1.2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@contextmanager
def logged_in(db: Database, login: str, lang: str = "en") -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        client.cookies.set("pt_lang", lang)
        response = client.post("/login", data={"login": login, "password": DEMO_PASSWORD})
        assert response.status_code == 200
        yield client


def id_of(db: Database, code: str) -> int:
    with db.sessions() as session:
        found = session.scalar(select(Equipment.id).where(Equipment.code == code))
        found = found or session.scalar(select(Room.id).where(Room.code == code))
        assert found is not None, code
        return int(found)


@pytest.mark.clause("SH-6.3.2.1", "SH-7.1.2")
def test_the_area_is_live_for_those_who_may_view_it(db: Database) -> None:
    with logged_in(db, "zhangwei") as operator:
        home = operator.get("/")
        assert re.search(r'<a class="area live" href="/equipment">', home.text)
        listing = operator.get("/equipment")
        assert listing.status_code == 200
        assert 'data-testid="equipment-form"' not in listing.text  # operators do not register equipment
    with logged_in(db, "zhouqiang") as keeper:  # the warehouse keeper holds no equipment.view
        assert 'href="/equipment"' not in keeper.get("/").text
        assert keeper.get("/equipment").status_code == 403


@pytest.mark.clause("SH-6.3.2.1", "TJ-6.1")
def test_the_register_shows_usability_and_a_scanned_code_opens_its_record(db: Database) -> None:
    with logged_in(db, "lina") as supervisor:
        listing = supervisor.get("/equipment")
        for code in ("FD-01", "FL-01", "TK-01", "BAL-02", "VW-01"):
            assert f'data-code="{code}"' in listing.text
        assert listing.text.count('data-usable="no"') == 4  # TK-01, BAL-02, VW-01, UV-01 (QC laboratory)
        assert "The cleaning expired at" in listing.text
        scanned = supervisor.get("/equipment", params={"q": "fd-01\r"}, follow_redirects=False)
        assert (
            scanned.status_code == 303 and scanned.headers["location"] == f"/equipment/{id_of(db, 'FD-01')}"
        )
        room = supervisor.get("/equipment", params={"q": "RM-LYO"}, follow_redirects=False)
        assert room.headers["location"] == f"/equipment/rooms/{id_of(db, 'RM-LYO')}"
        balances = supervisor.get("/equipment", params={"q": "天平"})
        assert balances.text.count("data-code=") == 3  # BAL-01, BAL-02, BAL-QC-01
        scales = supervisor.get("/equipment/scales")
        assert scales.text.count("data-code=") == 4 and "0.0001 g" in scales.text
        rooms = supervisor.get("/equipment/rooms")
        assert rooms.text.count("data-code=") == 8  # 7 of the line + the QC laboratory's 理化室


@pytest.mark.clause("TJ-B.2.1", "SH-6.3.2.1.a", "SH-7.1.3.d")
def test_the_detail_page_shows_status_validity_logbook_and_its_own_trail(db: Database) -> None:
    tank = id_of(db, "TK-01")
    with logged_in(db, "chenjing") as qa:
        page = qa.get(f"/equipment/{tank}")
        assert page.status_code == 200
        assert "May not be used now" in page.text
        assert (
            'data-reason="cleaning_expired"' in page.text
            and 'data-reason="sterilisation_expired"' in page.text
        )
        for status in ("qualification", "cleaning", "sterilisation", "calibration"):
            assert f'data-status="{status}"' in page.text
        assert page.text.count('data-entry-kind="') == 3  # qualification, cleaning, sterilisation
        assert 'data-testid="audit-trail"' in page.text and "system:demo-seed" in page.text
        assert 'data-testid="logbook-form"' not in page.text  # QA reads, does not record
    with logged_in(db, "zhangwei", lang="zh_CN") as operator:
        assert operator.get(f"/equipment/{tank}").status_code == 200  # the Chinese page renders too
        room = operator.get(f"/equipment/rooms/{id_of(db, 'RM-PACK')}")
        assert room.status_code == 200 and 'data-testid="logbook-form"' in room.text


@pytest.mark.clause("TJ-6.4.2", "TJ-6.1")
def test_a_refused_use_shows_the_reason_and_a_cleaning_entry_makes_the_tank_clean(db: Database) -> None:
    tank = id_of(db, "TK-01")
    with logged_in(db, "zhangwei") as operator:
        refused = operator.post(f"/equipment/{tank}/logbook", data={"kind": "use", "description": "配液"})
        assert refused.status_code == 409
        assert "may not be used: The cleaning expired at" in refused.text
        engineering = operator.post(f"/equipment/{tank}/logbook",
                                    data={"kind": "repair", "description": "更换密封圈"})  # fmt: skip
        assert engineering.status_code == 403
        bad = operator.post(f"/equipment/{tank}/logbook", data={"kind": "cleaning", "description": ""})
        assert bad.status_code == 422
        cleaned = operator.post(f"/equipment/{tank}/logbook",
                                data={"kind": "cleaning", "description": "CIP 在线清洗", "reference": "SOP-EQ-231"})  # fmt: skip
        assert cleaned.status_code == 200 and "Saved" in cleaned.text  # redirected back with the flash
        assert (
            'data-reason="not_sterile"' in cleaned.text
            and 'data-reason="cleaning_expired"' not in cleaned.text
        )
        assert (
            'data-testid="edit-form"' not in cleaned.text and 'data-testid="operating-form"' in cleaned.text
        )


@pytest.mark.clause("SH-6.3.2.1.a", "SH-6.3.2.1.b", "TJ-10.1.3.2.b")
def test_the_engineer_works_with_the_forms(db: Database) -> None:
    with logged_in(db, "wuhao") as engineer:
        form = {"code": "BAL-10", "name": "电子天平 32 kg", "equipment_class": "balance", "room_code": "RM-WEIGH",
                "gmp_critical": "on", "lifecycle": "installation", "cleaning_validity_hours": "24",
                "calibration_interval_days": "", "capacity": "32", "readability": "0.1", "weight_unit": "g"}  # fmt: skip
        refused = engineer.post("/equipment", data=form)
        assert refused.status_code == 422 and "calibration interval" in refused.text
        created = engineer.post("/equipment", data={**form, "calibration_interval_days": "180"})
        assert created.status_code == 200 and "电子天平 32 kg" in created.text
        balance = id_of(db, "BAL-10")
        edit = {"name": "电子天平 32 kg", "model": "ICS429", "manufacturer": "", "serial_no": "", "location": "",
                "room_code": "RM-WEIGH", "gmp_critical": "on", "cleaning_validity_hours": "24",
                "sterilisation_validity_hours": "", "calibration_interval_days": "180",
                "qualification_interval_days": "", "capacity": "32", "readability": "0.1", "min_weight": "",
                "weight_unit": "g"}  # fmt: skip
        no_reason = engineer.post(f"/equipment/{balance}/edit", data=edit)
        assert no_reason.status_code == 422
        edited = engineer.post(f"/equipment/{balance}/edit", data={**edit, "reason": "补录型号"})
        assert edited.status_code == 200 and "ICS429" in edited.text
        lifecycle = engineer.post(
            f"/equipment/{balance}/lifecycle", data={"state": "in_service", "reason": "投用"}
        )
        assert lifecycle.status_code == 409 and "valid qualification" in lifecycle.text
        grade = engineer.post("/equipment/rooms", data={"code": "RM-QC3", "name": "阳性对照间", "grade": "E",
                                                        "clean_validity_hours": "24"})  # fmt: skip
        assert grade.status_code == 422 and 'data-testid="field-error-grade"' in grade.text
        room = engineer.post("/equipment/rooms", data={"code": "RM-QC3", "name": "阳性对照间", "grade": "C",
                                                       "clean_validity_hours": "24"})  # fmt: skip
        assert room.status_code == 200 and "阳性对照间" in room.text
        void = engineer.post(f"/equipment/{balance}/void", data={"reason": ""})
        assert void.status_code == 422
        void = engineer.post(f"/equipment/{balance}/void", data={"reason": "建档错误"})
        assert void.status_code == 200 and 'data-reason="void"' in void.text
    with logged_in(db, "zhangwei") as operator:
        assert operator.post("/equipment", data=form).status_code == 403
