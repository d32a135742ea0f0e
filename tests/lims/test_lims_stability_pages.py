"""Stability pages and API: the dashboard with the pull points due and the shelf-life estimates, a study's page
with its schedule and trend charts (server-side SVG), the protocol form, the approval form shown only to an
approver who did not write it; the same lifecycle through ``/api/v1/lims/stability`` (SH-6.2.3, TJ-7.7)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from demo_codes import demo_codes
from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.lims import stability_charts
from pharmatrace.lims.result_models import TestOrder
from pharmatrace.lims.stability_models import StabilityStudy
from pharmatrace.lims.stability_schemas import EstimatePublic, LinePublic, TrendPoint, TrendPublic
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


def _demo_code(db: Database) -> str:
    with db.sessions() as session:
        code = session.scalar(select(StabilityStudy.code).where(StabilityStudy.material_code == "FG-DH-0200"))
        assert code is not None
        return code


@pytest.mark.clause("SH-6.2.3")
@pytest.mark.parametrize("login", ["wangfang", "sunli", "zhaomin", "inspector"])
def test_the_dashboard_and_the_study_page_show_the_demo_study(client: TestClient, db: Database,
                                                             login: str) -> None:  # fmt: skip
    code = _demo_code(db)
    log_in(client, login, language="en")
    board = client.get("/lims/stability")
    assert board.status_code == 200
    assert f'data-code="{code}"' in board.text and 'data-testid="due-points"' in board.text
    assert ('data-testid="new-study"' in board.text) == (login == "sunli")
    page = client.get(f"/lims/stability/{code}")
    assert page.status_code == 200
    html = page.text
    for testid in ("protocol", "schedule", "placements", "pulls", "signatures", "audit-trail", "trend-1"):
        assert f'data-testid="{testid}"' in html, testid
    chart = html.split('data-testid="trend-1"')[1].split("</svg>")[0]
    assert html.count("<svg viewBox=") == 3 and "http" not in chart
    assert 'data-point="T0"' in html and "STB-CH-01" in html and "QS-FG-DH-002" in html
    with db.sessions() as session:  # the batch's lot (mes.handover) is sampled: T0 has its test order
        order = session.scalar(select(TestOrder.code).where(TestOrder.source_ref == f"{code}/T0"))
    assert order is not None and order in html
    assert ('data-testid="pull-form"' in html) == (login == "wangfang")
    assert 'data-testid="approve-form"' not in html  # approved already


@pytest.mark.clause("SH-6.2.3", "SH-7.1.2")
@pytest.mark.parametrize("login", ["zhangwei", "zhouqiang", "huangmei"])
def test_people_outside_the_laboratory_and_qa_do_not_see_stability(client: TestClient, login: str) -> None:
    log_in(client, login, language="en")
    assert client.get("/lims/stability").status_code == 403
    assert client.get("/lims/stability/new").status_code == 403


@pytest.mark.clause("SH-6.2.3", "SH-7.1.4")
def test_a_protocol_written_on_the_form_is_approved_on_its_page_by_someone_else(client: TestClient,
                                                                               db: Database) -> None:  # fmt: skip
    log_in(client, "wangfang", language="en")
    assert client.get("/lims/stability/new").status_code == 403
    log_in(client, "sunli", language="en")
    form = client.get("/lims/stability/new")
    assert form.status_code == 200 and "QS-FG-DH-002" in form.text and "STB-CH-02" in form.text
    data = {
        "title": "注射用丹红冻干粉加速稳定性考察", "material_code": "FG-DH-0200", "study_type": "accelerated",
        "condition": "40 °C ± 2 °C / 75 % RH ± 5 % RH", "chamber_code": "stb-ch-02", "spec_code": "QS-FG-DH-002",
        "spec_version": "", "attributes": "水分\n含量测定（丹参素，以标示量计）", "pull_months": "0, 1, 2, 3, 6",
        "window_days": "3", "start_date": "2026-12-01", "pull_quantity": "10",
        "batches": demo_codes(db).batch_done.lower(), "protocol_document": "",
    }  # fmt: skip
    refused = client.post("/lims/stability/new", data={**data, "pull_months": "0, 3, 3"})
    assert refused.status_code == 422 and 'data-testid="error"' in refused.text
    before = count_rows(db, StabilityStudy)
    refused = client.post("/lims/stability/new", data={**data, "spec_code": "QS-FG-DH-001"})
    assert refused.status_code == 409 and "is not a shelf-life specification" in refused.text
    assert count_rows(db, StabilityStudy) == before
    made = client.post("/lims/stability/new", data=data, follow_redirects=False)
    assert made.status_code == 303, made.text
    url = made.headers["location"].split("?")[0]
    page = client.get(url)
    assert 'data-testid="status">Draft<' in page.text and 'data-testid="edit-link"' in page.text
    assert 'data-testid="approve-form"' not in page.text  # the author sees no approval form
    edit = client.get(url + "/edit")
    assert edit.status_code == 200 and "0, 1, 2, 3, 6" in edit.text
    log_in(client, "zhaomin", language="en")
    page = client.get(url)
    assert 'data-testid="approve-form"' in page.text
    wrong = client.post(url + "/approve", data={"password": "wrong", "login": "zhaomin"})
    assert wrong.status_code == 401
    signed = client.post(
        url + "/approve",
        data={"password": DEMO_PASSWORD, "login": "zhaomin", "comment": "同意"},
        follow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    page = client.get(url)
    assert 'data-testid="status">Approved<' in page.text and "赵敏" in page.text


@pytest.mark.clause("SH-6.2.3", "SH-7.1.2")
def test_the_api_runs_the_lifecycle_and_refuses_each_wrong_step(client: TestClient, db: Database) -> None:
    author, approver, analyst = token(client, "sunli"), token(client, "zhaomin"), token(client, "wangfang")
    # the demo's batch in progress: no warehouse lot (the completed batch handed its lot over)
    batch_order = demo_codes(db).batch_in_progress
    body = {
        "title": "API study", "material_code": "FG-DH-0200", "study_type": "long_term",
        "condition": "25 °C ± 2 °C / 60 % RH ± 5 % RH", "chamber_code": "STB-CH-01", "spec_code": "QS-FG-DH-002",
        "attributes": ["水分"], "pull_months": [0, 6, 12], "window_days": 5,
        "start_date": "2026-01-01", "pull_quantity": "5", "batches": [batch_order],
    }  # fmt: skip
    assert client.post("/api/v1/lims/stability/studies", json=body, headers=analyst).status_code == 403
    created = client.post("/api/v1/lims/stability/studies", json=body, headers=author)
    assert created.status_code == 201, created.text
    study = created.json()
    code = study["code"]
    assert study["status"] == "draft" and [p["label"] for p in study["schedule"]] == ["T0", "T6", "T12"]
    assert study["schedule"][1]["due_date"] == "2026-07-01"
    assert client.post(f"/api/v1/lims/stability/studies/{code}/pulls", json={"months": 0},
                       headers=analyst).status_code == 409  # fmt: skip
    assert client.post(f"/api/v1/lims/stability/studies/{code}/approve", json={"password": DEMO_PASSWORD},
                       headers=author).status_code == 403  # fmt: skip
    approved = client.post(f"/api/v1/lims/stability/studies/{code}/approve",
                           json={"password": DEMO_PASSWORD, "login": "zhaomin"}, headers=approver)  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert approved.json()["signatures"][0]["status"] == "valid"
    placed = client.post(f"/api/v1/lims/stability/studies/{code}/placements",
                         json={"batch_no": batch_order, "quantity": "30", "position": "第 3 层"}, headers=analyst)  # fmt: skip
    assert placed.status_code == 201, placed.text
    assert placed.json()["sample_code"] == f"{code}-1" and placed.json()["from_samples"] is False
    pulled = client.post(f"/api/v1/lims/stability/studies/{code}/pulls", json={"months": 0, "note": "延迟取样"},
                         headers=analyst)  # fmt: skip
    assert pulled.status_code == 201, pulled.text
    assert pulled.json()[0]["source_ref"] == f"{code}/T0" and pulled.json()[0]["order_code"] is None
    again = client.post(f"/api/v1/lims/stability/studies/{code}/pulls", json={"months": 0, "note": "x"},
                        headers=analyst)  # fmt: skip
    assert again.status_code == 409 and again.json()["error"]["code"] == "stability_pull_refused"
    detail = client.get(f"/api/v1/lims/stability/studies/{code}", headers=analyst).json()
    assert detail["placements"][0]["left"] == "25.000" or float(detail["placements"][0]["left"]) == 25
    trends = client.get(f"/api/v1/lims/stability/studies/{code}/trends", headers=analyst)
    assert trends.status_code == 200 and trends.json()[0]["attribute"] == "水分"
    due = client.get("/api/v1/lims/stability/due", params={"days": 30}, headers=analyst)
    assert due.status_code == 200 and any(r["study_code"] == code and r["label"] == "T6" for r in due.json())
    listed = client.get("/api/v1/lims/stability/studies", params={"q": "API"}, headers=analyst).json()
    assert [s["code"] for s in listed] == [code]


@pytest.mark.clause("SH-6.2.3")
def test_the_chart_draws_points_lines_bound_and_criterion_and_escapes_every_text() -> None:
    line = LinePublic(
        batch_no="B<1>", intercept=100.071, slope=-0.1548, s=0.2022, df=4, n=6, t_mean=8.0, sxx=210.0
    )
    trend = TrendPublic(
        attribute="含量<script>", unit="%", lower=95.0, upper=None, limit_text="≥ 95.0",
        points=[TrendPoint(batch_no="B<1>", months=m, value=v) for m, v in
                zip([0, 3, 6, 9, 12, 18], [100.2, 99.6, 99.1, 98.7, 97.9, 97.5], strict=True)],
        estimate=EstimatePublic(sides="lower", confidence=0.95, model="single", slopes_p=None, intercepts_p=None,
                                lines=[line], bounds=[], worst_batch="B<1>", estimate=28.6, data_span=18, cap=30,
                                months=28, limited_by="data", rule=""),
        problem=None,
    )  # fmt: skip
    svg = str(stability_charts.trend_svg(trend, {"months": "Months", "shelf_life": "Shelf life"}))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<script>" not in svg and "含量&lt;script&gt;" in svg and "B&lt;1&gt;" in svg
    assert svg.count('class="point"') == 6 and svg.count('class="fit"') == 1
    assert 'class="criterion"' in svg and "≥ 95" in svg
    assert 'class="shelf-life"' in svg and "Shelf life 28" in svg
    empty = TrendPublic(attribute="水分", unit="%", lower=None, upper=3.5, limit_text="≤ 3.5", points=[],
                        estimate=None, problem="none")  # fmt: skip
    drawn = str(stability_charts.trend_svg(empty, {"no_data": "No reviewed results yet"}))
    assert "No reviewed results yet" in drawn and 'class="point"' not in drawn and "≤ 3.5" in drawn
    assert not re.search(r"(?:src|href)=", drawn)
