"""Certificates of analysis over the API and on the pages (TJ-7.1, TJ-9.1, TJ-5.2.1.4): issue, sign, QA's decision,
the PDF with the Chinese conclusion and values, the print recorded in the audit trail."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from lims_certificate_steps import QA, SANQI, lot_number, lot_status, mannitol_tested, sanqi_confirmed
from lims_result_steps import ANALYST, REVIEWER
from pypdf import PdfReader

from helpers import audit_entries, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

API = "/api/v1/lims/certificates"


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\x00", "")


@pytest.mark.clause("TJ-7.1", "TJ-9.1", "TJ-5.2.1.4")
def test_the_api_issues_signs_decides_and_exports_the_certificate_as_pdf(db: Database) -> None:
    mannitol_tested(db)
    with TestClient(create_app(db)) as client:
        analyst, reviewer, qa = token(client, ANALYST), token(client, REVIEWER), token(client, QA)
        refused = client.post(API, headers=qa, json={"lot": lot_number(db)})
        assert refused.status_code == 403  # QA neither enters nor reviews results
        made = client.post(API, headers=analyst, json={"lot": lot_number(db)})
        assert made.status_code == 201, made.text
        body = made.json()
        assert (body["state"], body["conclusion"], len(body["lines"])) == ("issued", "conforms", 6)
        url = f"{API}/{body['id']}"
        assert (
            client.post(f"{url}/sign", headers=analyst, json={"password": DEMO_PASSWORD}).status_code == 403
        )
        signed = client.post(
            f"{url}/sign", headers=reviewer, json={"password": DEMO_PASSWORD, "login": REVIEWER}
        )
        assert signed.status_code == 200, signed.text
        assert signed.json()["signoff"]["status"] == "valid"
        decided = client.post(f"{url}/decision", headers=qa, json={
            "decision": "release", "reason": "检验报告书符合规定", "password": DEMO_PASSWORD, "login": QA})  # fmt: skip
        assert decided.status_code == 200, decided.text
        assert decided.json()["state"] == "released" and lot_status(db) == "released"
        listed = client.get(API, headers=qa, params={"state": "released"}).json()
        assert [c["code"] for c in listed] == [body["code"]]
        pdf = client.get(f"{url}/pdf", headers=qa)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = _text(pdf.content)
    assert body["code"] in text and "QS-EXC-MAN-001" in text and "98.8" in text and "167.5" in text
    assert "符合规定" in text  # the conclusion in Chinese (zh_CN is the default language)
    printed = [e for e in audit_entries(db, object_type="lims_certificate", object_id=str(body["id"]))
               if e.event == "lims.certificate.pdf"]  # fmt: skip
    assert [e.actor_login for e in printed] == [QA]


@pytest.mark.clause("TJ-7.1", "TJ-5.2.1.4", "TJ-5.2.1.5")
def test_the_pages_issue_a_non_conforming_certificate_sign_it_and_offer_only_rejection(db: Database) -> None:
    sanqi_confirmed(db)
    with TestClient(create_app(db), cookies={"pt_lang": "en"}) as client:

        def log_in(login: str) -> None:
            client.cookies.clear()
            client.cookies.set("pt_lang", "en")
            assert client.post("/login", data={"login": login, "password": DEMO_PASSWORD}).status_code in (
                200,
                303,
            )

        log_in(ANALYST)
        page = client.get("/lims/certificates")
        assert page.status_code == 200 and 'data-testid="issue-form"' in page.text
        made = client.post("/lims/certificates", data={"lot": lot_number(db, SANQI)}, follow_redirects=False)
        assert made.status_code == 303, made.text
        url = made.headers["location"].split("?")[0]
        page = client.get(url).text
        assert (
            "Does not conform" in page and "14.6" in page and 'data-testid="sign-form"' not in page
        )  # analyst
        log_in(REVIEWER)
        assert 'data-testid="sign-form"' in client.get(url).text
        signed = client.post(f"{url}/sign", data={"password": DEMO_PASSWORD, "login": REVIEWER},
                             follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303, signed.text
        log_in(QA)
        page = client.get(url).text
        form = re.search(r'data-testid="decision-form".*?</form>', page, re.S)
        assert (
            form is not None and 'value="reject"' in form.group(0) and 'value="release"' not in form.group(0)
        )
        refused = client.post(f"{url}/decision", data={"decision": "release", "reason": "放行", "password":
                                                       DEMO_PASSWORD, "login": QA})  # fmt: skip
        assert refused.status_code == 409 and "does not conform" in refused.text
        rejected = client.post(f"{url}/decision", data={"decision": "reject", "reason": "水分超标", "password":
                                                        DEMO_PASSWORD, "login": QA}, follow_redirects=False)  # fmt: skip
        assert rejected.status_code == 303, rejected.text
        printed = client.get(f"{url}/print")
        assert printed.status_code == 200 and 'data-testid="certificate-print"' in printed.text
    assert lot_status(db, SANQI) == "rejected"
    certificate_id = url.rsplit("/", 1)[1]
    events = [e.event for e in audit_entries(db, object_type="lims_certificate", object_id=certificate_id)]
    assert "lims.certificate.html" in events
