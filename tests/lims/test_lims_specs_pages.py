"""Specification pages: the list, a version with its items, signatures and audit trail, the draft editor and the
approval form, each shown to the roles that may use it and refused to the others (TJ-7.2, TJ-7.3, SH-6.2.3)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from helpers import count_rows, log_in
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.lims.specs_models import SpecificationItem, SpecificationVersion
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as test_client:
        yield test_client


def _alert(html: str) -> str:
    found = re.search(r'data-testid="error">([^<]*)<', html)
    return found.group(1) if found else ""


@pytest.mark.clause("TJ-7.2", "SH-6.2.3")
@pytest.mark.parametrize("login", ["sunli", "zhaomin", "wangfang", "lina", "inspector"])
def test_the_pages_show_the_specifications_to_whoever_may_read_them(client: TestClient, login: str) -> None:
    log_in(client, login, language="en")
    listed = client.get("/lims/specifications", params={"material": "HB-DS-001"})
    assert listed.status_code == 200
    assert (
        'data-testid="spec-QS-HB-DS-001"' in listed.text and 'data-testid="spec-QS-HB-DS-002"' in listed.text
    )
    assert 'data-testid="spec-QS-FG-DH-001"' not in listed.text
    page = client.get("/lims/specifications/QS-HB-DS-001", follow_redirects=True)
    assert page.url.path == "/lims/specifications/QS-HB-DS-001/v/1"
    html = page.text
    for testid in ("header", "items", "calculator", "versions", "signatures", "audit-trail"):
        assert f'data-testid="{testid}"' in html, testid
    assert re.search(r'data-testid="limit-3">≤ 13.0 %<', html)
    assert "salvianolic_b = (A_s / A_r) * (W_r / W_s) * P * 100" in html
    assert "赵敏" in html and "valid" in html  # the approval signature, shown with its state
    assert ('data-testid="create-form"' in listed.text) == (login == "sunli")
    assert 'action="/lims/spec-versions/' not in html  # an approved version offers no lifecycle form


@pytest.mark.clause("TJ-7.2", "SH-7.1.2")
@pytest.mark.parametrize("login", ["zhangwei", "zhouqiang", "huangmei"])
def test_the_pages_are_refused_to_roles_without_laboratory_access(client: TestClient, login: str) -> None:
    log_in(client, login, language="en")
    assert client.get("/lims/specifications").status_code == 403
    assert client.get("/lims/specifications/QS-HB-DS-001/v/1").status_code == 403


@pytest.mark.clause("TJ-7.2", "TJ-10.2")
def test_a_specification_is_written_on_the_editor_and_approved_on_its_page(
    client: TestClient, db: Database
) -> None:
    log_in(client, "wangfang", language="en")  # an analyst reads, but neither creates nor edits
    form = {"code": "QS-DP-DS-001", "category": "decoction_piece", "title": "丹参饮片质量标准",
            "basis": "《中国药典》2025年版一部", "standard_kind": "pharmacopoeia", "purpose": "release",
            "material_codes": "DP-DS-001", "change_summary": "首次发布"}  # fmt: skip
    assert client.post("/lims/specifications", data=form).status_code == 403
    log_in(client, "sunli", language="en")
    wrong = client.post("/lims/specifications", data={**form, "material_codes": "HB-DS-001"})
    assert wrong.status_code == 422
    assert (
        _alert(wrong.text)
        == "Material HB-DS-001 is not of a kind a specification for “Decoction piece” applies to"
    )
    created = client.post("/lims/specifications", data=form, follow_redirects=True)
    assert created.status_code == 200 and created.url.path == "/lims/specifications/QS-DP-DS-001/v/1/edit"
    version_id = int(re.search(r"/lims/spec-versions/(\d+)/items", created.text).group(1))  # type: ignore[union-attr]
    items = count_rows(db, SpecificationItem)
    bad = client.post(f"/lims/spec-versions/{version_id}/items",
                      data={"name": "水分", "limit_type": "range", "lower": "13.0", "upper": "12.0", "decimals": "1"})  # fmt: skip
    assert bad.status_code == 422 and _alert(bad.text) == "The lower limit is above the upper limit"
    assert count_rows(db, SpecificationItem) == items
    added = client.post(
        f"/lims/spec-versions/{version_id}/items", follow_redirects=True,
        data={"name": "含量测定（丹酚酸B）", "limit_type": "ge", "lower": "3.0", "unit": "%", "decimals": "1",
              "rounding": "gbt8170", "formula": "b = A_s / A_r * W_r / W_s * P * 100",
              "raw_inputs": "A_s | 供试品峰面积\nA_r | 对照品峰面积\nW_r | 对照品称样量 | mg\nW_s | 供试品称样量 | mg\nP"},
    )  # fmt: skip
    assert added.status_code == 200 and 'data-testid="item-card-1"' in added.text, _alert(added.text)
    assert count_rows(db, SpecificationItem) == items + 1
    extra = client.post(f"/lims/spec-versions/{version_id}/items", follow_redirects=True,
                        data={"name": "灰分", "limit_type": "le", "upper": "10.0", "decimals": "1"})  # fmt: skip
    extra_id = int(re.findall(r'action="/lims/spec-items/(\d+)/remove"', extra.text)[-1])
    no_reason = client.post(f"/lims/spec-items/{extra_id}/remove", data={"reason": ""})
    assert no_reason.status_code == 422 and _alert(no_reason.text) == "A reason is required for this change"
    removed = client.post(
        f"/lims/spec-items/{extra_id}/remove", data={"reason": "重复项目"}, follow_redirects=True
    )
    assert removed.status_code == 200 and 'data-testid="item-card-2"' not in removed.text
    submitted = client.post(f"/lims/spec-versions/{version_id}/submit", follow_redirects=True)
    assert 'data-testid="status">In review<' in submitted.text
    assert 'data-testid="approve-form"' not in submitted.text  # the author is offered no approval
    assert client.get("/lims/specifications/QS-DP-DS-001/v/1/edit", follow_redirects=True).url.path == (
        "/lims/specifications/QS-DP-DS-001/v/1"
    )  # no editor once submitted
    log_in(client, "zhaomin", language="en")
    page = client.get("/lims/specifications/QS-DP-DS-001/v/1")
    assert 'data-testid="approve-form"' in page.text and 'data-testid="return-form"' in page.text
    wrong_password = client.post(f"/lims/spec-versions/{version_id}/approve", follow_redirects=True,
                                 data={"login": "zhaomin", "password": "wrong"})  # fmt: skip
    assert 'data-testid="status">In review<' in wrong_password.text
    approved = client.post(f"/lims/spec-versions/{version_id}/approve", follow_redirects=True,
                           data={"login": "zhaomin", "password": DEMO_PASSWORD, "comment": "同意发布"})  # fmt: skip
    assert 'data-testid="status">Approved<' in approved.text, _alert(approved.text)
    assert "同意发布" in approved.text and "赵敏" in approved.text
    with db.sessions() as session:
        version = session.get(SpecificationVersion, version_id)
        assert version is not None and version.status == "approved" and version.approved_by == "zhaomin"


@pytest.mark.clause("TJ-7.2", "SH-7.1.2")
def test_the_editor_is_refused_to_readers_and_to_approvers(client: TestClient) -> None:
    for login in ("wangfang", "zhaomin", "inspector"):
        log_in(client, login, language="en")
        assert client.get("/lims/specifications/QS-PP-VIAL-001/v/1/edit").status_code == 403
    log_in(
        client, "sunli", language="en"
    )  # the vial specification is in review: its editor sends the author back
    back = client.get("/lims/specifications/QS-PP-VIAL-001/v/1/edit", follow_redirects=True)
    assert back.url.path == "/lims/specifications/QS-PP-VIAL-001/v/1"
    assert _alert(back.text) == "Only a draft version of a specification can be changed"


@pytest.mark.clause("TJ-7.3", "TJ-10.5.2.a")
def test_the_page_judges_a_value_from_the_raw_inputs_and_shows_each_of_them(client: TestClient) -> None:
    log_in(client, "wangfang", language="en")
    page = client.get("/lims/specifications/QS-EXC-MAN-001/v/1")
    assay = re.search(r'data-testid="judge-form-6".*?name="item" value="(\d+)"', page.text, re.S)
    assert assay is not None
    raws = {"raw_V_b": "25.10", "raw_V_s": "3.40", "raw_F": "1.002", "raw_W": "198.6"}
    judged = client.get(
        "/lims/specifications/QS-EXC-MAN-001/v/1/judge", params={"item": assay.group(1), **raws}
    )
    assert judged.status_code == 200
    html = judged.text
    computed = re.search(r'data-testid="computed">([^<]*)<', html)
    reported = re.search(r'data-testid="reported">([^<]*)<', html)
    assert computed is not None and computed.group(1).startswith("99.7")
    assert reported is not None and reported.group(1) == "99.7"
    assert re.search(r'data-testid="outcome">Pass<', html)
    assert 'value="25.10"' in html and 'value="198.6"' in html  # each raw value stays visible
    missing = client.get("/lims/specifications/QS-EXC-MAN-001/v/1/judge", params={"item": assay.group(1)})
    assert (
        missing.status_code == 422
        and _alert(missing.text) == "Give the result, or the raw values of its formula"
    )
