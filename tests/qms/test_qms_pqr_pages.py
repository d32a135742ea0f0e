"""Product quality review pages and API: the list and the demo's review in review, its page with every section,
the trend charts' data embedded as JSON for the local ECharts (one assay series per test item, with its
specification limits), the codes of each area shown by their labels in the user's language, the printable view,
the compile form refusing a period ending before it starts and an unknown product with 422, the qualified person's
signed approval on the page; the API refuses bad input with 422 and a user without the permission with 403,
writing nothing (TJ-9.4, SH-6.2.4)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.qms import pqr as service
from pharmatrace.qms.pqr_models import PqrDecision, ProductQualityReview
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on PostgreSQL (ADR 0003)

SECTIONS = ("batches", "yields", "deviations", "laboratory", "changes", "complaints", "stability")


def _demo(db: Database) -> str:
    with db.sessions() as session:
        number = session.scalar(select(ProductQualityReview.number).order_by(ProductQualityReview.id))
        assert number is not None
        return number


def _status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return service.get_pqr(session, number).status


def _counts(db: Database) -> tuple[int, int]:
    return count_rows(db, ProductQualityReview), count_rows(db, PqrDecision)


def _cells(page: str, testid: str) -> list[str]:
    """The text of every element marked ``data-testid=testid`` (tags removed, spaces collapsed)."""
    found = re.findall(rf'data-testid="{testid}">(.*?)</(?:td|span)>', page, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in found]


@pytest.mark.clause("TJ-9.4", "SH-6.2.4", "SH-7.1.4")
def test_the_review_page_shows_sections_and_charts_and_takes_the_signed_approval(
    client: TestClient, db: Database
) -> None:
    number = _demo(db)
    log_in(client, "chenjing", language="en")
    listed = client.get("/qms/pqr")
    assert (
        listed.status_code == 200
        and f'data-number="{number}"' in listed.text
        and 'data-testid="pqr-tab"' in listed.text
    )
    page = client.get(f"/qms/pqr/{number}").text
    for section in SECTIONS:
        assert f'data-testid="section-{section}"' in page, section
    for testid in ("pqr-facts", "conclusions", "signatures", "audit-trail", "yield-chart", "assay-chart"):
        assert f'data-testid="{testid}"' in page, testid
    assert (
        "/static/vendor/echarts.min.js" in page
        and "http" not in page.split("echarts.min.js")[0].rsplit("<script", 1)[1]
    )
    embedded = re.search(
        r'<script type="application/json" id="pqr-chart-data"[^>]*>(.*?)</script>', page, re.S
    )
    assert embedded is not None
    charts = json.loads(embedded.group(1))
    with db.sessions() as session:
        content = service.content_of(service.get_pqr(session, number))
    yields = content["sections"]["yields"]["rows"]
    assert charts["batches"] == [r["batch_no"] for r in content["sections"]["batches"]["rows"]]
    assert {s["name"] for s in charts["yield"]} == {r["step_code"] for r in yields}
    lab = content["sections"]["laboratory"]["rows"]
    assay = [r for r in lab if r["item"].startswith("含量")]
    # one series per assay test item, each with the limits its compiled rows carry (its specification's)
    assert [s["name"] for s in charts["assay"]["series"]] == list(dict.fromkeys(r["item"] for r in assay))
    first = charts["assay"]["series"][0]
    assert first["data"] and (first["low"], first["high"]) == (
        float(assay[0]["low"]),
        float(assay[0]["high"]),
    )
    assert "markLine: limitLines(s)" in page and "var limits" not in page

    # codes are shown by their labels (the demo: a deviation whose impact was judged acceptable, passing tests,
    # the closed mock recall of level III), never as the raw code in the cell
    impacts = _cells(page, "deviation-impact")
    assert impacts and all(c.endswith("Impact acceptable") and "impact_acceptable" not in c for c in impacts)
    assert _cells(page, "lab-verdict") and set(_cells(page, "lab-verdict")) == {"Pass"}
    assert _cells(page, "recall-kind") == ["Mock recall (drill)"]
    assert _cells(page, "recall-level") == ["Level III"] and _cells(page, "recall-status") == ["Closed"]
    client.cookies.set("pt_lang", "zh_CN")
    chinese = client.get(f"/qms/pqr/{number}").text
    assert _cells(chinese, "recall-kind") == ["模拟召回（演练）"]
    assert _cells(chinese, "recall-level") == ["三级召回"]
    assert all(c.endswith("影响可接受") for c in _cells(chinese, "deviation-impact"))
    client.cookies.set("pt_lang", "en")
    for form in ("review-form", "recompile-form"):
        assert f'data-testid="{form}"' in page, form
    assert 'data-testid="approve-form"' not in page  # QA compiles and reviews; the qualified person approves
    printed = client.get(f"/qms/pqr/{number}/print")
    assert printed.status_code == 200 and 'data-testid="pqr-print"' in printed.text
    assert 'data-testid="comment-batches"' in printed.text

    # the compile form: a period ending before it starts, an unknown product, a second review of the year
    assert client.get("/qms/pqr/new").status_code == 200
    before = _counts(db)
    backwards = client.post("/qms/pqr/new", data={"product": "FG-DH-0200", "period_start": "2026-06-30",
                                                  "period_end": "2026-01-01"})  # fmt: skip
    assert backwards.status_code == 422 and "cannot end before" in backwards.text
    unknown = client.post("/qms/pqr/new", data={"product": "NOPE-1", "year": "2026"})
    assert unknown.status_code == 422 and "NOPE-1" in unknown.text
    # the demo's period: the current year (from last year's 1 January early in January)
    with db.sessions() as session:
        demo = service.find_pqr(session, number)
        assert demo is not None
        period = {"period_start": demo.period_start.isoformat(), "period_end": demo.period_end.isoformat()}
    twice = client.post("/qms/pqr/new", data={"product": "FG-DH-0200", **period})
    assert twice.status_code == 409 and number in twice.text and _counts(db) == before

    log_in(client, "zhaomin", language="en")
    page = client.get(f"/qms/pqr/{number}").text
    assert 'data-testid="approve-form"' in page and 'data-testid="review-form"' in page
    wrong = client.post(f"/qms/pqr/{number}/approve", data={"password": "wrong", "login": "zhaomin"})
    assert wrong.status_code in (401, 403) and _status(db, number) == "in_review" and _counts(db) == before
    signed = client.post(f"/qms/pqr/{number}/approve",
                         data={"password": DEMO_PASSWORD, "login": "zhaomin", "comment": "同意"},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text
    assert _status(db, number) == "approved"
    page = client.get(f"/qms/pqr/{number}").text
    assert 'data-decision="approve"' in page
    printed = client.get(f"/qms/pqr/{number}/print").text
    assert _cells(printed, "signature-status") == ["valid"]  # the signature's state by its label
    assert _cells(printed, "recall-kind") == ["Mock recall (drill)"]
    for form in ("review-form", "approve-form"):
        assert f'data-testid="{form}"' not in page, form  # an approved review is not changed ...
    assert (
        'data-testid="recompile-form"' in page and "A correction of the approved review" in page
    )  # ... corrected


@pytest.mark.clause("TJ-9.4", "SH-6.2.4", "SH-7.1.4")
def test_the_api_validates_refuses_without_permission_and_follows_the_lifecycle(
    client: TestClient, db: Database
) -> None:
    qa, operator, qp = token(client, "chenjing"), token(client, "zhangwei"), token(client, "qianyu")
    body = {"product": "FG-DH-0200", "period_start": "2026-01-01", "period_end": "2026-06-30"}
    before = _counts(db)
    assert client.get("/api/v1/qms/pqr", headers=operator).status_code == 403
    assert client.post("/api/v1/qms/pqr", json=body, headers=operator).status_code == 403
    for bad in ({**body, "period_end": "2025-12-31"}, {**body, "product": "NOPE-1"}, {**body, "extra": 1},
                {"product": "FG-DH-0200", "period_start": "2026-01-01"}, {**body, "product": "HB-DS-001"}):  # fmt: skip
        response = client.post("/api/v1/qms/pqr", json=bad, headers=qa)
        assert response.status_code == 422, (bad, response.text)
    assert _counts(db) == before

    made = client.post("/api/v1/qms/pqr", json=body, headers=qa)
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    assert made.json()["status"] == "compiled" and len(made.json()["content_sm3"]) == 64
    assert set(made.json()["content"]["sections"]) == set(SECTIONS)
    listed = client.get("/api/v1/qms/pqr", headers=qa).json()
    assert number in {r["number"] for r in listed}
    early = client.post(f"/api/v1/qms/pqr/{number}/approve", json={"password": DEMO_PASSWORD, "login": "qianyu"},
                        headers=qp)  # fmt: skip
    assert early.status_code == 409  # not reviewed yet
    reviewed = client.put(f"/api/v1/qms/pqr/{number}/review", headers=qa,
                          json={"comments": {"yields": "收率稳定"}, "process_stable": True,
                                "overall_conclusion": "上半年工艺稳定"})  # fmt: skip
    assert reviewed.status_code == 200 and reviewed.json()["status"] == "in_review"
    assert client.put(f"/api/v1/qms/pqr/{number}/review", headers=qa,
                      json={"comments": {"nope": "x"}}).status_code == 422  # fmt: skip
    assert client.post(f"/api/v1/qms/pqr/{number}/approve", json={"password": DEMO_PASSWORD},
                       headers=qa).status_code == 403  # QA is no qualified person  # fmt: skip
    approved = client.post(f"/api/v1/qms/pqr/{number}/approve", json={"password": DEMO_PASSWORD, "login": "qianyu"},
                           headers=qp)  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert approved.json()["signatures"][0]["action"] == "qms.pqr.approve"
    detail = client.get(f"/api/v1/qms/pqr/{number}", headers=qa).json()
    assert detail["status"] == "approved" and detail["content_sm3"] == approved.json()["content_sm3"]
    # an approved review's conclusions do not change; a correction is the next version, with the reason
    rewrite = {"overall_conclusion": "改写", "reason": "改写"}
    assert client.put(f"/api/v1/qms/pqr/{number}/review", headers=qa, json=rewrite).status_code == 409
    corrected = client.post(f"/api/v1/qms/pqr/{number}/recompile", json={"reason": "更正收率"}, headers=qa)
    assert corrected.status_code == 200 and corrected.json()["version"] == 2, corrected.text
    assert corrected.json()["status"] == "compiled"
    # the carried-over conclusions are confirmed, then changed only with a reason
    confirm = {"overall_conclusion": "上半年工艺稳定（收率已更正）"}
    assert client.put(f"/api/v1/qms/pqr/{number}/review", headers=qa, json=confirm).status_code == 200
    assert client.put(f"/api/v1/qms/pqr/{number}/review", headers=qa, json=confirm).status_code == 422
    assert client.put(f"/api/v1/qms/pqr/{number}/review", headers=qa,
                      json={**confirm, "reason": "再次确认"}).status_code == 200  # fmt: skip
