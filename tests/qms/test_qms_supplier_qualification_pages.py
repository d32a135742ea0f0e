"""Supplier qualification pages and API: the list with the demo's approved and in-review qualifications and the panel
of approved-supplier list lines due for requalification; one qualification drafted from the supplier's page,
given its evidence and evaluation, submitted and approved by signature on the pages, which puts the supplier on the
list; the API lists the lines due and a supplier's performance over a period, refusing a period out of range with
422 and a user without the permission with 403 (SH-6.2.4, TJ-5.1, TJ-5.2.1.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.qms import supplier_qualifications as service
from pharmatrace.qms.supplier_qualification_models import QualificationDocument, SupplierQualification
from pharmatrace.storage.engine import Database
from pharmatrace.wms import service as wms
from pharmatrace.wms.models import Supplier

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (SupplierQualification, QualificationDocument, AuditEntry))


def _status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return service.get_qualification(session, number).status


@pytest.mark.clause("SH-6.2.4", "TJ-5.2.1.1", "SH-7.1.4")
def test_the_pages_show_the_demo_and_drive_a_qualification_to_the_approved_supplier_list(
    client: TestClient, db: Database
) -> None:
    with db.sessions() as session:
        demo = {q.status: q.number for q in session.scalars(select(SupplierQualification))}
        supplier_id = session.scalar(select(Supplier.id).where(Supplier.code == "SUP-BZ-YP"))
    assert set(demo) == {"approved", "in_review"}
    log_in(client, "chenjing", language="en")
    listing = client.get("/qms/supplier-qualifications")
    assert listing.status_code == 200 and all(f'data-number="{n}"' in listing.text for n in demo.values())
    assert (
        'data-due="SUP-YM-HH/HB-HH-001"' in listing.text
        and 'data-testid="start-requalification"' in listing.text
    )
    assert f'data-number="{demo["approved"]}"' not in client.get("/qms/supplier-qualifications",
                                                                 params={"status": "open"}).text  # fmt: skip
    page = client.get(f"/qms/supplier-qualifications/{demo['in_review']}").text
    for testid in ("qualification-facts", "evaluation", "documents", "audit-link", "performance", "audit-trail",
                   "requester-note"):  # fmt: skip
        assert f'data-testid="{testid}"' in page, testid
    assert 'data-decision="approve"' in client.get(f"/qms/supplier-qualifications/{demo['approved']}").text

    # from the supplier's page, prefilled; an unknown material is refused and writes nothing
    supplier_page = client.get(f"/wms/suppliers/{supplier_id}").text
    assert 'data-testid="supplier-qualifications"' in supplier_page and "SUP-BZ-YP" in supplier_page
    assert 'value="SUP-BZ-YP" selected' in client.get("/qms/supplier-qualifications/new",
                                                      params={"supplier": "SUP-BZ-YP"}).text  # fmt: skip
    form = {"supplier_code": "SUP-BZ-YP", "material_code": "EX-DH-001", "kind": "new"}
    before = _counts(db)
    assert (
        client.post("/qms/supplier-qualifications/new", data={**form, "material_code": "XX-0000"}).status_code
        == 404
    )
    assert client.post("/qms/supplier-qualifications/new", data={**form, "kind": "maybe"}).status_code == 422
    assert _counts(db) == before
    made = client.post("/qms/supplier-qualifications/new", data=form, follow_redirects=False)
    assert made.status_code == 303, made.text
    number = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    url = f"/qms/supplier-qualifications/{number}"
    until = (clock.today() + timedelta(days=500)).isoformat()
    for kind in ("business_licence", "manufacturing_licence", "quality_agreement"):
        added = client.post(f"{url}/documents", data={"kind": kind, "reference": f"NO-{kind}", "valid_until": until},
                            follow_redirects=False)  # fmt: skip
        assert added.status_code == 303, added.text
    stopped = client.post(f"{url}/submit")
    assert stopped.status_code == 409 and "trial lot" in stopped.text and _status(db, number) == "draft"
    evaluation = {"kind": "new", "samples_tested": "3", "samples_conforming": "3", "proposed_status": "approved",
                  "proposed_valid_until": until, "conclusion": "同意"}  # fmt: skip
    assert client.post(url, data={**evaluation, "samples_conforming": "4"}).status_code == 422
    assert client.post(url, data=evaluation, follow_redirects=False).status_code == 303
    assert client.post(f"{url}/submit", follow_redirects=False).status_code == 303
    assert 'data-testid="approve-form"' not in client.get(url).text  # chenjing asked for it

    log_in(client, "zhaomin", language="en")
    assert 'data-testid="approve-form"' in client.get(url).text
    signed = client.post(
        f"{url}/approve", data={"password": DEMO_PASSWORD, "login": "zhaomin"}, follow_redirects=False
    )
    assert signed.status_code == 303, signed.text
    assert _status(db, number) == "approved"
    with db.sessions() as session:
        assert wms.supplier_problem(session, "SUP-BZ-YP", "EX-DH-001") is None

    log_in(client, "zhangwei", language="en")
    assert client.get("/qms/supplier-qualifications").status_code == 403


@pytest.mark.clause("SH-6.2.4", "TJ-5.1")
def test_the_api_lists_lines_due_and_a_suppliers_performance_over_a_period(
    client: TestClient, db: Database
) -> None:
    qa, operator = token(client, "chenjing"), token(client, "zhangwei")
    due = client.get("/api/v1/qms/supplier-qualifications/due", headers=qa)
    assert due.status_code == 200
    assert [(d["supplier_code"], d["material_code"]) for d in due.json()] == [("SUP-YM-HH", "HB-HH-001")]
    base = "/api/v1/qms/supplier-qualifications/performance"
    year = client.get(f"{base}/SUP-SL-DS", headers=qa)
    month = client.get(f"{base}/sup-sl-ds", params={"days": 30}, headers=qa)
    assert year.status_code == month.status_code == 200, year.text
    y, m = year.json(), month.json()
    assert (y["days"], m["days"], y["supplier_code"], m["supplier_code"]) == (
        365,
        30,
        "SUP-SL-DS",
        "SUP-SL-DS",
    )
    assert y["lots"] >= 1 and y["lots"] >= m["lots"] and y["audits"] and y["audits"][0]["kind"] == "supplier"
    assert y["lots"] == sum(y["by_status"].values())
    for days in (29, 1826, "x"):
        assert client.get(f"{base}/SUP-SL-DS", params={"days": days}, headers=qa).status_code == 422, days
    assert client.get(f"{base}/SUP-NONE", headers=qa).status_code == 404
    assert client.get(f"{base}/SUP-SL-DS", headers=operator).status_code == 403
    assert client.get("/api/v1/qms/supplier-qualifications/due", headers=operator).status_code == 403
    listed = client.get("/api/v1/qms/supplier-qualifications", params={"status": "in_review"}, headers=qa)
    assert [q["supplier_code"] for q in listed.json()] == ["SUP-SL-DS"]
