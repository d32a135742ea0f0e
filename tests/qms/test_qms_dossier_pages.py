"""Registration and contract pages and API: the list with the expiry reminders and the demo's records (the product's
registration certificate, the plant's manufacturing licence due for renewal, a contract-testing agreement, a quality
agreement in review); one record drafted with its original PDF, submitted and approved by signature on the pages,
its file downloaded and checked against its SM3; a renewal prefilled from "Renew"; the API refuses bad input with
422 and a user without the permission with 403, writing nothing (SH-6.2.4, SH-7.1.4, SH-7.1.3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import count_rows, log_in, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, crypto
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.qms import dossiers as service
from pharmatrace.qms.dossier_models import Dossier, DossierDecision
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _counts(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, m) for m in (Dossier, DossierDecision, AuditEntry))


def _status(db: Database, number: str) -> str:
    with db.sessions() as session:
        return service.get_dossier(session, number).status


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4", "SH-7.1.3")
def test_the_pages_show_the_reminders_and_drive_a_contract_with_its_original_to_signed_effect(
    client: TestClient, db: Database
) -> None:
    with db.sessions() as session:
        licence = session.scalar(select(Dossier.number).where(Dossier.kind == "manufacturing_licence"))
        review = session.scalar(select(Dossier.number).where(Dossier.kind == "quality_agreement"))
    log_in(client, "chenjing", language="en")
    listing = client.get("/qms/dossiers")
    assert listing.status_code == 200 and 'data-testid="dossiers-tab"' in listing.text
    reminders = listing.text.split('data-testid="reminders"')[1].split('data-testid="filters"')[0]
    assert f'data-reminder="{licence}"' in reminders and 'data-expiry="due"' in reminders
    assert "SUP-BZ-YP" in listing.text and "国药准字Z20260017" in listing.text
    contracts = client.get("/qms/dossiers", params={"category": "contract", "status": "in_review"}).text
    assert f'data-number="{review}"' in contracts and f'data-number="{licence}"' not in contracts

    # a new contract: a missing counterparty is 422, an unknown supplier 404, both writing nothing
    assert client.get("/qms/dossiers/new").status_code == 200
    until = (clock.today() + timedelta(days=365)).isoformat()
    form = {"category": "contract", "kind": "contract_manufacturing", "title": "委托生产质量协议（冻干粉针）",
            "reference_no": "HT-CMO-2026-001", "valid_until": until}  # fmt: skip
    before = _counts(db)
    assert client.post("/qms/dossiers/new", data=form).status_code == 422
    unknown = client.post("/qms/dossiers/new", data={**form, "supplier_code": "SUP-NONE"})
    assert unknown.status_code == 404 and "SUP-NONE" in unknown.text and _counts(db) == before
    made = client.post("/qms/dossiers/new", data={**form, "counterparty": "某某制药有限公司（受托方）"},
                       files={"file": ("协议原件.pdf", PDF, "application/pdf")}, follow_redirects=False)  # fmt: skip
    assert made.status_code == 303, made.text
    number = made.headers["location"].split("?")[0].rsplit("/", 1)[1]
    assert number.startswith("CTR-")
    url = f"/qms/dossiers/{number}"
    page = client.get(url).text
    sm3 = crypto.sm3(PDF).hex()
    assert f'data-testid="file-sm3">{sm3}<' in page and 'data-testid="edit-form"' in page
    download = client.get(f"{url}/file")
    assert download.status_code == 200 and download.content == PDF and download.headers["x-sm3"] == sm3
    refused = client.post(f"{url}/file", files={"file": ("x.exe", b"MZ\x90\x00", "application/pdf")})
    assert refused.status_code == 422 and _counts(db)[0] == before[0] + 1

    assert client.post(f"{url}/submit", follow_redirects=False).status_code == 303
    assert 'data-testid="author-note"' in client.get(url).text  # chenjing drafted it
    log_in(client, "zhaomin", language="en")
    assert 'data-testid="approve-form"' in client.get(url).text
    wrong = client.post(f"{url}/approve", data={"password": "wrong", "login": "zhaomin"})
    assert wrong.status_code in (401, 403) and _status(db, number) == "in_review"
    signed = client.post(f"{url}/approve", data={"password": DEMO_PASSWORD, "login": "zhaomin", "comment": "同意"},
                         follow_redirects=False)  # fmt: skip
    assert signed.status_code == 303, signed.text
    page = client.get(url).text
    assert (
        _status(db, number) == "effective"
        and 'data-decision="approve"' in page
        and 'data-expiry="valid"' in page
    )
    renew = client.get("/qms/dossiers/new", params={"renews": number}).text
    assert f'value="{number}"' in renew and "HT-CMO-2026-001" in renew

    log_in(client, "inspector", language="en")
    assert client.get(url).status_code == 200 and client.get(f"{url}/file").content == PDF
    assert client.get("/qms/dossiers/new").status_code == 403
    log_in(client, "zhangwei", language="en")
    assert client.get("/qms/dossiers").status_code == 403


@pytest.mark.clause("SH-6.2.4", "SH-7.1.4")
def test_the_api_validates_refuses_without_permission_and_follows_the_lifecycle(
    client: TestClient, db: Database
) -> None:
    qa, qp, operator = token(client, "chenjing"), token(client, "qianyu"), token(client, "zhangwei")
    today = clock.today()
    body = {"category": "registration", "kind": "supplementary_approval", "title": "补充申请批准通知书（变更处方工艺）",
            "reference_no": "2026B01234", "material_code": "FG-DH-0200", "issuing_authority": "国家药品监督管理局",
            "effective_from": today.isoformat(), "valid_until": (today + timedelta(days=100)).isoformat()}  # fmt: skip
    before = _counts(db)
    for bad in ({**body, "kind": "quality_agreement"}, {**body, "material_code": None}, {**body, "title": ""},
                {**body, "valid_until": (today - timedelta(days=1)).isoformat()}, {**body, "extra": 1}):  # fmt: skip
        assert client.post("/api/v1/qms/dossiers", json=bad, headers=qa).status_code == 422, bad
    assert (
        client.post("/api/v1/qms/dossiers", json={**body, "material_code": "XX-1"}, headers=qa).status_code
        == 404
    )
    assert client.post("/api/v1/qms/dossiers", json=body, headers=operator).status_code == 403
    assert client.get("/api/v1/qms/dossiers", headers=operator).status_code == 403
    assert _counts(db) == before

    made = client.post("/api/v1/qms/dossiers", json=body, headers=qa)
    assert made.status_code == 201 and made.json()["reminder_days"] == 180, made.text
    base = f"/api/v1/qms/dossiers/{made.json()['number']}"
    assert client.put(base, json={**body, "reminder_days": 30}, headers=qa).json()["reminder_days"] == 30
    uploaded = client.post(f"{base}/file", files={"file": ("批件.pdf", PDF, "application/pdf")}, headers=qa)
    assert uploaded.status_code == 200 and uploaded.json()["file_sm3"] == crypto.sm3(PDF).hex()
    assert client.post(f"{base}/submit", headers=qa).status_code == 200
    assert client.post(f"{base}/approve", json={"password": DEMO_PASSWORD}, headers=qa).status_code == 403
    signed = client.post(f"{base}/approve", json={"password": DEMO_PASSWORD, "login": "qianyu"}, headers=qp)
    assert signed.status_code == 200 and signed.json()["signatures"][0]["action"] == "qms.dossier.approve"
    assert client.put(base, json=body, headers=qa).status_code == 409
    expiring = client.get("/api/v1/qms/dossiers/expiring", headers=qa).json()
    assert made.json()["number"] not in {r["number"] for r in expiring}  # 100 days left, 30 days' lead time
    assert any(r["kind"] == "manufacturing_licence" and r["expiry"] == "due" for r in expiring)
    ended = client.post(f"{base}/terminate", json={"reason": "补充申请被撤回"}, headers=qa)
    assert (
        ended.status_code == 200 and ended.json()["status"] == "terminated" and ended.json()["expiry"] is None
    )
    assert client.get(f"{base}/file", headers=qa).content == PDF
