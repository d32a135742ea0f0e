"""The sampling pages (TJ-7.5.1): the proposal for a scanned lot, recording the sampling from the tablet form,
and the plan list and editor — each refusal shown on the page with nothing written."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lims_sampling_steps import MANNITOL, QC, QC_REVIEWER, QUARANTINED, REJECTED, counts, lot, lot_status

from helpers import audit_entries
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.lims import samples
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


def _client(db: Database, login: str) -> TestClient:
    client = TestClient(create_app(db))
    client.__enter__()
    client.post("/login", data={"login": login, "password": DEMO_PASSWORD})
    return client


@pytest.mark.clause("TJ-7.5.1", "TJ-B.2.4.1.1")
def test_the_sampling_form_proposes_for_a_scanned_container_and_records_the_draw(db: Database) -> None:
    herb = lot(db, QUARANTINED)
    client = _client(db, QC)
    try:
        proposal = client.get("/lims/sampling/proposal", params={"lot": herb.containers[0].code},
                              headers={"HX-Request": "true"})  # fmt: skip
        refused = client.get("/lims/sampling/proposal", params={"lot": lot(db, REJECTED).lot_number})
        before = counts(db)
        bad = client.post(
            "/lims/sampling", data={"lot": herb.lot_number, "purpose": "release_test", "place": ""}
        )
        after_bad = counts(db)
        made = client.post("/lims/sampling", data={"lot": herb.lot_number, "purpose": "release_test", "place": "取样间",
                                                   "plan_code": "", "quantity_per_container": "",
                                                   "retained_per_container": "", "tool": "", "conditions": "",
                                                   "remarks": ""}, follow_redirects=False)  # fmt: skip
        page = client.get(made.headers["location"])
    finally:
        client.__exit__(None, None, None)
    assert (
        proposal.status_code == 200 and 'data-testid="proposal-count" data-k="3" data-n="3"' in proposal.text
    )
    assert "SP-HERB" in proposal.text and all(c.code in proposal.text for c in herb.containers)
    assert 'class="flash error"' in refused.text and lot(db, REJECTED).lot_number in refused.text
    assert bad.status_code == 422 and after_bad == before
    assert made.status_code == 303 and made.headers["location"].startswith("/lims/sampling/")
    assert 'data-testid="seed"' in page.text and 'data-testid="reproduced"' in page.text
    assert lot_status(db, QUARANTINED) == "under_test"


@pytest.mark.clause("TJ-7.5.1", "SH-7.1.2")
def test_who_may_only_read_sees_the_pages_without_the_forms_and_cannot_post(db: Database) -> None:
    client = _client(db, QC_REVIEWER)
    try:
        samples_page = client.get("/lims/samples")
        sampling_page = client.get("/lims/sampling")
        plans_page = client.get("/lims/sampling-plans")
        before = counts(db)
        posted = client.post("/lims/sampling", data={"lot": lot(db, MANNITOL).lot_number, "purpose": "release_test",
                                                     "place": "取样间"})  # fmt: skip
    finally:
        client.__exit__(None, None, None)
    assert samples_page.status_code == 200 and 'data-testid="samples"' in samples_page.text
    assert 'data-testid="new-sampling"' not in samples_page.text
    assert sampling_page.status_code == 200 and 'data-testid="sampling-form"' not in sampling_page.text
    assert plans_page.status_code == 200 and 'data-testid="plan-create"' not in plans_page.text
    assert posted.status_code == 403 and counts(db) == before


@pytest.mark.clause("TJ-7.5.1")
def test_plans_are_created_changed_with_a_reason_and_voided_on_their_pages(db: Database) -> None:
    client = _client(db, QC)
    try:
        form = {"code": "SP-VIAL", "name": "西林瓶 fixed", "material_code": "PP-VIAL-10", "material_kind": "",
                "rule": "fixed", "fixed_count": "3", "quantity_per_container": "20", "retained_per_container": "10",
                "tool": "洁净取样袋", "storage_condition": ""}  # fmt: skip
        wrong = client.post("/lims/sampling-plans", data={**form, "fixed_count": ""})
        created = client.post("/lims/sampling-plans", data=form, follow_redirects=False)
        url = created.headers["location"].split("?")[0]
        plan_id = int(url.rsplit("/", 1)[1])
        change = {"name": "西林瓶 √n+1", "rule": "sqrt_n_plus_1", "fixed_count": "", "quantity_per_container": "20",
                  "retained_per_container": "10", "tool": "洁净取样袋", "storage_condition": ""}  # fmt: skip
        no_reason = client.post(url, data={**change, "reason": ""})
        changed = client.post(url, data={**change, "reason": "按 SOP-QC-010 第 4 版"}, follow_redirects=False)
        page = client.get(url)
        voided = client.post(f"{url}/void", data={"reason": "改由内包材通用计划取样"}, follow_redirects=False)
    finally:
        client.__exit__(None, None, None)
    assert wrong.status_code == 422 and 'data-testid="plan-create"' in wrong.text
    assert created.status_code == 303
    assert no_reason.status_code == 422
    assert changed.status_code == 303 and 'data-testid="plan-rule">sqrt_n_plus_1<' in page.text
    assert voided.status_code == 303
    trail = audit_entries(db, object_type="lims_sampling_plan", object_id=str(plan_id))
    assert [e.reason for e in trail[1:]] == ["按 SOP-QC-010 第 4 版", "改由内包材通用计划取样"]
    with db.sessions() as session:
        assert samples.get_plan(session, plan_id).voided_at is not None
        assert samples.plan_by_code(session, "SP-PACK").voided_at is None  # the kind's plan is back in charge
