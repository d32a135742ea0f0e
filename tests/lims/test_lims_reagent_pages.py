"""Reagent pages and API (TJ-7.6, TJ-B.2.4.2): the inventory with its filters and scanned codes, the receive
and preparation forms, a container's page with its usage log and trail, the reminders, labels, the data
set export; and who may see or write what (SH-7.1.2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import LOGIN_BY_ROLE, audit_entries, count_rows, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.exchange import datasets
from pharmatrace.lims import reagents
from pharmatrace.lims.reagent_datasets import REAGENT_DATA_SET
from pharmatrace.lims.reagent_models import Reagent, ReagentLogEntry
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@contextmanager
def logged_in(db: Database, login: str) -> Iterator[TestClient]:
    with TestClient(create_app(db)) as client:
        client.cookies.set("pt_lang", "en")
        response = client.post("/login", data={"login": login, "password": DEMO_PASSWORD})
        assert response.status_code == 200
        yield client


def code_of(db: Database, name: str) -> str:
    with db.sessions() as session:
        found = session.scalars(
            select(Reagent.code).where(Reagent.name == name).order_by(Reagent.code)
        ).first()
        assert found is not None, name
        return found


@pytest.mark.clause("TJ-7.6", "SH-7.1.2")
def test_the_inventory_filters_and_opens_a_scanned_code(db: Database) -> None:
    expired = code_of(db, "冰醋酸")
    with logged_in(db, "sunli") as reviewer:
        page = reviewer.get("/lims/reagents")
        assert page.status_code == 200
        assert f'data-code="{expired}"' in page.text and "It expired on" in page.text
        assert 'data-testid="receive-link"' not in page.text  # the reviewer does not receive reagents
        assert 'data-testid="count-expired">1<' in page.text
        only_expired = reviewer.get("/lims/reagents", params={"state": "expired"})
        assert only_expired.text.count("data-code=") == 1
        soon = reviewer.get("/lims/reagents", params={"expiring": "30"})
        assert f'data-code="{code_of(db, "丹酚酸B对照品")}"' in soon.text and expired not in soon.text
        scanned = reviewer.get(
            "/lims/reagents", params={"q": f"\x02{expired.lower()}\r"}, follow_redirects=False
        )
        assert scanned.status_code == 303 and scanned.headers["location"] == f"/lims/reagents/{expired}"
        by_name = reviewer.get("/lims/reagents", params={"q": "甲醇"})
        assert by_name.text.count("data-code=") == 2
        reminders = reviewer.get("/lims/reagents/reminders")
        assert f'data-code="{expired}"' in reminders.text and 'data-days-left="-' in reminders.text
        solutions = reviewer.get("/lims/solutions")
        assert solutions.text.count("data-code=") == 2
        assert reviewer.get("/lims/reagents/receive").status_code == 403
        assert reviewer.get("/lims/solutions/new").status_code == 403
    with logged_in(db, "zhouqiang") as keeper:  # the warehouse keeper holds no lims.view
        assert keeper.get("/lims/reagents").status_code == 403
        assert keeper.get("/lims/instruments").status_code == 403


@pytest.mark.clause("TJ-7.6", "SH-7.1.3.d")
def test_the_container_page_shows_state_log_standardization_and_trail(db: Database) -> None:
    titrant = code_of(db, "氢氧化钠滴定液")
    with logged_in(db, "chenjing") as qa:
        page = qa.get(f"/lims/reagents/{titrant}")
        assert page.status_code == 200
        assert "May be used now." in page.text
        assert 'data-testid="standardized">0.1002 mol/L · F = 1.002' in page.text
        assert page.text.count('data-accepted="yes"') == 2 and "王芳" in page.text and "孙丽" in page.text
        assert 'data-entry-kind="preparation"' in page.text and 'data-testid="audit-trail"' in page.text
        assert 'data-testid="issue-form"' not in page.text  # QA reads, the analyst writes
        expired = qa.get(f"/lims/reagents/{code_of(db, '冰醋酸')}")
        assert 'data-reason="expired"' in expired.text
        assert qa.get("/lims/reagents/RG-000000-999").status_code == 404


@pytest.mark.clause("TJ-7.6")
def test_receive_issue_and_refusal_through_the_forms(db: Database) -> None:
    form = {
        "kind": "reagent", "name": "四氢呋喃", "grade": "色谱纯", "cas_no": "109-99-9", "manufacturer": "国药集团",
        "lot_no": "T2611-08", "quantity": "1000", "unit": "mL", "containers": "2", "expiry_date": "2099-12-31",
        "retest_date": "", "open_use_days": "90", "storage_condition": "阴凉避光", "location": "易燃试剂柜 A-3",
        "source": "", "content_pct": "", "content_basis": "", "use_conditions": "",
    }  # fmt: skip
    with logged_in(db, "wangfang") as analyst:
        bad = analyst.post("/lims/reagents", data={**form, "cas_no": "109-99"})
        assert bad.status_code == 422 and 'data-testid="field-error-cas_no"' in bad.text
        received = analyst.post("/lims/reagents", data=form, follow_redirects=False)
        assert received.status_code == 303 and received.headers["location"].startswith(
            "/lims/reagents?q=T2611-08"
        )
        with db.sessions() as session:
            codes = list(session.scalars(select(Reagent.code).where(Reagent.lot_no == "T2611-08")))
        assert len(codes) == 2
        issued = analyst.post(f"/lims/reagents/{codes[0]}/issues", data={"quantity": "50", "purpose": "S-2611-004"},
                              follow_redirects=False)  # fmt: skip
        assert issued.status_code == 303
        expired = code_of(db, "冰醋酸")
        entries = count_rows(db, ReagentLogEntry)
        refused = analyst.post(
            f"/lims/reagents/{expired}/issues", data={"quantity": "5", "purpose": "S-2611-004"}
        )
        assert (
            refused.status_code == 409
            and "may not be used" in refused.text
            and "It expired on" in refused.text
        )
        assert count_rows(db, ReagentLogEntry) == entries
        page = analyst.get(f"/lims/reagents/{codes[0]}")
        assert 'data-testid="return-form"' in page.text and 'data-entry-kind="opening"' in page.text


@pytest.mark.clause("TJ-7.6")
def test_prepare_a_solution_through_the_form(db: Database) -> None:
    phosphoric = code_of(db, "磷酸")
    form = {
        "kind": "solution", "name": "0.1% 磷酸溶液", "concentration": "0.1", "concentration_unit": "%",
        "quantity": "1000", "unit": "mL", "validity_days": "30", "storage_condition": "密封，常温",
        "location": "试液架 S-01", "method": "取磷酸 1 mL，加水至 1000 mL",
        "component_code_1": phosphoric, "component_quantity_1": "1", "component_unit_1": "mL",
    }  # fmt: skip
    with logged_in(db, "wangfang") as analyst:
        page = analyst.get("/lims/solutions/new")
        assert page.status_code == 200 and f'<option value="{phosphoric}">' in page.text
        assert code_of(db, "冰醋酸") not in page.text  # only usable containers are offered
        empty = analyst.post(
            "/lims/solutions", data={k: v for k, v in form.items() if not k.startswith("component")}
        )
        assert empty.status_code == 422
        done = analyst.post("/lims/solutions", data=form, follow_redirects=False)
        assert done.status_code == 303
        page = analyst.get(done.headers["location"])
    assert 'data-testid="components"' in page.text and phosphoric in page.text


@pytest.mark.clause("TJ-7.6", "SH-7.1.2")
def test_the_api_receives_lists_and_refuses_the_wrong_role(db: Database) -> None:
    body = {"kind": "reference_standard", "name": "丹参酮ⅡA对照品", "manufacturer": "中国食品药品检定研究院",
            "lot_no": "110766-202022", "quantity": "20", "unit": "mg", "expiry_date": "2099-01-01",
            "storage_condition": "-20 °C 冷冻", "location": "对照品冰箱 RF-02", "source": "中检院",
            "content_pct": "98.6"}  # fmt: skip
    with TestClient(create_app(db)) as client:
        analyst = token(client, LOGIN_BY_ROLE["qc_analyst"])
        made = client.post("/api/v1/lims/reagents", headers=analyst, json=body)
        assert made.status_code == 201, made.text
        code = made.json()[0]["code"]
        assert code.startswith("RS-") and made.json()[0]["content_pct"] == "98.6"
        for role in ("qc_reviewer", "qa_release", "production_supervisor", "inspector"):
            refused = client.post(
                "/api/v1/lims/reagents", headers=token(client, LOGIN_BY_ROLE[role]), json=body
            )
            assert refused.status_code == 403, role
        inspector = token(client, LOGIN_BY_ROLE["inspector"])
        listed = client.get("/api/v1/lims/reagents", headers=inspector, params={"kind": "reference_standard"})
        assert {r["code"] for r in listed.json()} >= {code}
        usable = client.get(f"/api/v1/lims/reagents/{code}/usability", headers=inspector)
        assert usable.json()["usable"] is True and usable.json()["state"] == "in_use"
        naive = client.get(f"/api/v1/lims/reagents/{code}/usability", headers=inspector,
                           params={"at": "2026-11-20T08:00:00"})  # fmt: skip
        assert naive.status_code == 422
        expired = code_of(db, "冰醋酸")
        issue = client.post(f"/api/v1/lims/reagents/{expired}/issues", headers=analyst,
                            json={"quantity": "5", "purpose": "S-2611-004"})  # fmt: skip
        assert issue.status_code == 409 and issue.json()["error"]["code"] == "reagent_unusable"
        reminders = client.get("/api/v1/lims/reagents/reminders", headers=inspector, params={"days": 30})
        assert expired in {r["code"] for r in reminders.json()}
        label = client.get(f"/api/v1/lims/reagents/{code}/label.pdf", headers=analyst)
        assert label.status_code == 200 and label.content.startswith(b"%PDF")
        zpl = client.get(f"/api/v1/lims/reagents/{code}/label.zpl", headers=analyst)
        assert zpl.text.startswith("^XA") and code in zpl.text
        assert client.get(f"/api/v1/lims/reagents/{code}/label.pdf", headers=inspector).status_code == 403
    with db.sessions() as session:
        reagent_id = reagents.find(session, code).id
    assert [e.changes["format"][1] for e in audit_entries(db, event=reagents.LABEL_PRINT_EVENT,
                                                          object_id=str(reagent_id))] == ["pdf", "zpl"]  # fmt: skip


@pytest.mark.clause("TJ-B.2.4.2", "TJ-B.1.3")
def test_the_reagent_data_set_has_the_short_names_of_table_b16_and_exports(db: Database) -> None:
    assert datasets.load_all()["TJ-B.2.4.2"] is REAGENT_DATA_SET
    assert REAGENT_DATA_SET.short_names.count("YXRQ") == 3
    with TestClient(create_app(db)) as client:
        response = client.get("/api/v1/exchange/datasets/TJ-B.2.4.2", headers=token(client, "chenjing"))
    assert response.status_code == 200, response.text
    records = json.loads(response.content)["records"]
    receipts = [r for r in records if r["RKSJ"]]
    assert {r["SJBZPMC"] for r in receipts} >= {"甲醇", "乙腈", "磷酸", "丹酚酸B对照品", "冰醋酸"}
    methanol = next(r for r in receipts if r["SJBZPMC"] == "甲醇")
    assert (
        methanol["GG"] == "色谱纯" and methanol["RKR"] == "王芳（wangfang）" and len(methanol["RKSJ"]) == 15
    )
    assert methanol["LYR"] is None and methanol["YXRQ"] and len(methanol["YXRQ"]) == 8
    issued = next(r for r in records if r["LYSL"] == 500.0)
    assert issued["SJBZPMC"] == "甲醇" and issued["LYSJ"] and issued["RKSJ"] is None
    assert any(r["GHSL"] == 80.0 for r in records)
    prepared = next(r for r in records if r["SYMC"] == "氢氧化钠滴定液")
    assert (
        prepared["PZND"] == "0.1 mol/L"
        and prepared["PZR"] == "王芳（wangfang）"
        and len(prepared["PZSJ"]) == 8
    )
    standardized = next(r for r in records if r["BZRYMC"])
    assert standardized["BDND"] == "0.1002 mol/L" and standardized["BDR"] == "王芳（wangfang）；孙丽（sunli）"
    assert standardized["BZRYPH"] == prepared["SYPH"]
