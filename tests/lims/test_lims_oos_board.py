"""The OOS board and investigation pages (TJ-7.7, TJ-B.2.4.3): the demo's 三七 水分 case in phase II with the
deviation the deviation demo raised from it, what it is linked to, the forms each reader may use, the API."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from helpers import LOGIN_BY_ROLE, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.lims.oos_models import OosStep
from pharmatrace.lims.result_models import OosCase
from pharmatrace.mes import historian_seam
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


def _login(client: TestClient, login: str) -> None:
    client.cookies.clear()
    client.cookies.set("pt_lang", "en")
    answer = client.post("/login", data={"login": login, "password": DEMO_PASSWORD})
    assert answer.status_code in (200, 303)


def _steps(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(OosStep)) or 0)


@pytest.mark.clause("TJ-7.7", "TJ-B.2.4.3")
def test_the_board_links_the_demo_case_to_its_investigation_in_phase_two(db: Database) -> None:
    with db.sessions() as session:
        code = session.scalars(select(OosCase.code).order_by(OosCase.id)).first()
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        _login(client, "inspector")
        page = client.get("/lims/oos")
        assert page.status_code == 200, page.text
        row = re.search(r'<tr data-case="OOS[^"]+">.*?</tr>', page.text, re.S)
        assert row is not None
        shown = row.group(0)
        assert "水分" in shown and "14.6 %" in shown and "王芳" in shown and "BAL-QC-01" in shown
        assert "calibrated until" in shown and "Phase II (full investigation)" in shown and "Open" in shown
        assert f'href="/lims/oos/{code}"' in shown
        closed = client.get("/lims/oos", params={"status": "closed"})
        assert 'data-case="' not in closed.text and "No OOS case" in closed.text

        detail = client.get(f"/lims/oos/{code}")
        assert detail.status_code == 200, detail.text
        text = detail.text
        assert (
            "王芳" in text
            and "BAL-QC-01" in text
            and "14.6 %" in text
            and 'data-testid="step-phase1"' in text
        )
        linked = re.search(r'href="/qms/deviations/(DEV-\d{4}-\d{4})"', text)  # the deviation demo's, linked
        assert linked is not None
        _login(client, "zhaomin")  # and back: the deviation and the result link to the investigation
        deviation = client.get(f"/qms/deviations/{linked.group(1)}").text
        assert f'<a href="/lims/oos/{code}" data-testid="source-link">' in deviation
        result = client.get(re.search(r'href="(/lims/tests/\d+)"', text).group(1))  # type: ignore[union-attr]
        assert result.status_code == 200 and f'href="/lims/oos/{code}"' in result.text
        _login(client, "inspector")
        if not historian_seam.registered():
            assert "Environmental monitoring not connected" in text
        assert "phase II is not recorded" in text and "has no conclusion" in text
        forms = ("phase1-form", "deviation-form", "phase2-form", "conclusion-form", "close-form")
        assert not [f for f in forms if f'data-testid="{f}"' in text]  # the inspector writes nothing


@pytest.mark.clause("TJ-7.7", "TJ-B.2.4.3")
def test_each_reader_gets_the_forms_of_their_steps_and_a_refusal_writes_nothing(db: Database) -> None:
    with db.sessions() as session:
        code = session.scalars(select(OosCase.code).order_by(OosCase.id)).first()
    before = _steps(db)
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:
        _login(client, LOGIN_BY_ROLE["qc_reviewer"])
        page = client.get(f"/lims/oos/{code}").text
        assert 'data-testid="phase2-form"' in page and 'data-testid="phase1-form"' not in page
        assert 'data-testid="deviation-form"' not in page  # linked already
        refused = client.post(f"/lims/oos/{code}/phase2", data={"manufacturing": "x"})
        assert refused.status_code == 422 and 'data-testid="error"' in refused.text
        _login(client, LOGIN_BY_ROLE["qa_release"])
        assert 'data-testid="close-form"' not in client.get(f"/lims/oos/{code}").text  # not yet: phase II
        api = client.get(f"/api/v1/lims/oos/{code}", headers=token(client, "inspector"))
        assert api.status_code == 200 and api.json()["phase"] == "II" and api.json()["deviations"]
        analyst = token(client, LOGIN_BY_ROLE["qc_analyst"])
        denied = client.post(f"/api/v1/lims/oos/{code}/conclusion", headers=analyst,
                             json={"conclusion": "confirmed", "summary": "确认超标"})  # fmt: skip
        assert denied.status_code == 403
        qa = token(client, LOGIN_BY_ROLE["qa_release"])
        early = client.post(f"/api/v1/lims/oos/{code}/close", headers=qa,
                            json={"password": DEMO_PASSWORD, "login": LOGIN_BY_ROLE["qa_release"]})  # fmt: skip
        assert early.status_code == 409 and "phase II is not recorded" in early.text
    assert _steps(db) == before
