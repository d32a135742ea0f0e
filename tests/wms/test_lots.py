"""Lots: status only through its events, QA release signed, labels, finding a lot by a scanned code."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pypdfium2
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from pypdf import PdfReader
from receiving import GTIN, KEEPER, QA, QC, SUPPLIER_LOT, create, gs1_label, received, scan, status

from helpers import LOGIN_BY_ROLE, audit_entries, principal, token
from pharmatrace.codes import gs1
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, ledger
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotPermitted
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import certificates, specs
from pharmatrace.lims.certificate_models import Certificate, CertificateSignoff
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app
from pharmatrace.wms import labels, lots
from pharmatrace.wms.models import LOT_EVENTS, LOT_TRANSITIONS, Lot, LotStatusRefused


def certified(db: Database, lot_id: int) -> None:
    """A signed, conforming certificate of analysis for the lot against each effective release specification of
    its material: the CoA gate of the release (TJ-5.2.1.4) then passes, honestly. A narrow setup of the two rows
    the gate reads (certificate and QC signoff); issuing from approved results and signing are proven through the
    service in tests/lims/test_lims_certificate_service.py."""
    reviewer = principal(db, LOGIN_BY_ROLE["qc_reviewer"])
    with UnitOfWork(db, reviewer.actor, reason="检验报告书（测试准备）") as uow:
        lot = lots.get_lot(uow.session, lot_id)
        for n, version in enumerate(specs.effective_specs(uow.session, lot.material.code, "release"), 1):
            content = {"lot": lot.lot_number, "spec": version.specification.code, "conclusion": "conforms"}
            made = Certificate(
                code=f"COA-T{lot_id}-{n}", lot_id=lot.id, lot_number=lot.lot_number, material_code=lot.material.code,
                material_name=lot.material.name, spec_version_id=version.id, spec_code=version.specification.code,
                spec_version=version.version, spec_sm3=version.content_sm3, conclusion="conforms",
                content=ledger.canonical_text(content), content_sm3=certificates.content_hash(content),
                issued_at=clock.now(), issued_by=QC, issued_by_name="王芳",
            )  # fmt: skip
            uow.session.add(made)
            uow.session.flush()
            uow.session.add(CertificateSignoff(certificate_id=made.id, content_sm3=made.content_sm3,
                                               signed_at=clock.now(), signed_by=reviewer.login,
                                               signed_by_name=reviewer.full_name, comment=""))  # fmt: skip
        uow.commit()


def event(db: Database, login: str, lot_id: int, name: str, reason: str = "按 SOP 操作") -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor, reason=reason) as uow:
        if name in ("release", "reject"):
            getattr(lots, name)(uow, who, lot_id, DEMO_PASSWORD, who.login)
        else:
            getattr(lots, name)(uow, lot_id)
        uow.commit()


@pytest.mark.clause("TJ-6.3.1", "TJ-6.4.1", "SH-6.2.2")
def test_the_status_cannot_be_edited_only_moved_by_its_events(db: Database) -> None:
    _, lot_id = received(db)
    for target in ("released", "under_test", "quarantine", "rejected"):
        with UnitOfWork(db, principal(db, LOGIN_BY_ROLE["qa_release"]).actor, reason="直接改") as uow:
            lot = uow.session.get(Lot, lot_id)
            assert lot is not None
            with pytest.raises(LotStatusRefused, match="changes only through its events"):
                lot.status = target
    with UnitOfWork(db, principal(db, QA).actor, reason="x") as uow:
        lot = uow.session.get(Lot, lot_id)
        assert lot is not None
        with pytest.raises(LotStatusRefused, match="not possible for a lot in status quarantine"):
            lot.apply("release")
        with pytest.raises(LotStatusRefused, match="starts in quarantine"):
            Lot(status="released")
    assert status(db, lot_id) == "quarantine"
    # the declared transitions are the whole map: rejected and expired are final
    assert not {start for start, _ in LOT_TRANSITIONS} & {"rejected", "expired"}
    assert set(LOT_EVENTS) == {"start_testing", "release", "reject", "hold", "release_hold", "expire"}


@pytest.mark.clause("TJ-6.4.1", "SH-6.2.2", "SH-7.1.4", "TJ-10.2")
def test_qc_samples_and_qa_releases_with_a_signature(db: Database) -> None:
    _, lot_id = received(db)
    with pytest.raises(NotPermitted):
        event(db, QC, lot_id, "release")  # QC may sample, not release
    event(db, QC, lot_id, "start_testing", "QC 取样 S2611-0042")
    assert status(db, lot_id) == "under_test"
    with pytest.raises(certificates.ReleaseRefused, match="only on a signed certificate of analysis"):
        event(db, QA, lot_id, "release", "无检验报告书")  # TJ-5.2.1.4: the CoA gate
    assert status(db, lot_id) == "under_test"
    certified(db, lot_id)
    event(db, QA, lot_id, "release", "检验报告 QC-2611-042 合格")
    assert status(db, lot_id) == "released"
    with db.sessions() as session:
        signed = esign.manifestations(session, "lot", str(lot_id))
    assert [(s.action, s.meaning, s.signer_login, s.status) for s in signed] == [
        ("lot.release", "released", QA, "valid")
    ]
    trail = [e for e in audit_entries(db, object_type="lot", object_id=str(lot_id)) if "status" in e.changes]
    assert [(e.changes["status"], e.reason) for e in trail[1:]] == [
        (["quarantine", "under_test"], "QC 取样 S2611-0042"),
        (["under_test", "released"], "检验报告 QC-2611-042 合格"),
    ]
    assert ledger.verify(db).intact


@pytest.mark.clause("TJ-6.4.1", "SH-7.1.4.a")
def test_a_wrong_password_releases_nothing(db: Database) -> None:
    _, lot_id = received(db)
    event(db, QC, lot_id, "start_testing")
    certified(db, lot_id)
    qa = principal(db, QA)
    with UnitOfWork(db, qa.actor, reason="合格") as uow, pytest.raises(AuthenticationFailed):
        lots.release(uow, qa, lot_id, "Wrong#2026", QA)
    assert status(db, lot_id) == "under_test"
    with db.sessions() as session:
        assert esign.manifestations(session, "lot", str(lot_id)) == []


@pytest.mark.clause("TJ-6.4.1", "SH-6.2.2")
def test_sampling_waits_for_the_receipt_and_holds_return_where_they_came_from(db: Database) -> None:
    receipt_id = create(db)
    scan(db, receipt_id, gs1_label(1))
    from receiving import lot_of

    open_lot = lot_of(db, receipt_id).id
    with pytest.raises(Conflict, match="not complete yet"):
        event(db, QC, open_lot, "start_testing")
    _, lot_id = received(db, supplier_lot="DS2611-T02")
    event(db, QC, lot_id, "start_testing")
    certified(db, lot_id)
    event(db, QA, lot_id, "release")
    event(db, QA, lot_id, "hold", "偏差 DEV-2611-03 调查中")
    assert status(db, lot_id) == "on_hold"
    with pytest.raises(LotStatusRefused):
        event(db, QA, lot_id, "release")
    event(db, QA, lot_id, "release_hold", "偏差关闭，不影响质量")
    assert status(db, lot_id) == "released"
    with pytest.raises(LotStatusRefused, match="not possible"):
        event(db, QA, lot_id, "reject")  # a released lot is put on hold first
    event(db, QA, lot_id, "hold", "复核")
    event(db, QA, lot_id, "reject", "调查结论：不合格")
    assert status(db, lot_id) == "rejected"
    with pytest.raises(LotStatusRefused):
        event(db, QA, lot_id, "release_hold")


@pytest.mark.clause("TJ-6.4.1", "TJ-5.2.1.2")
def test_a_lot_expires_only_after_its_expiry_date(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _, lot_id = received(db)
    with pytest.raises(Conflict, match="has not expired"):
        event(db, KEEPER, lot_id, "expire")
    with db.sessions() as session:
        expiry = lots.get_lot(session, lot_id).expiry_date
    assert expiry is not None
    later = datetime(expiry.year, expiry.month, expiry.day, 1, 0, tzinfo=UTC) + timedelta(days=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    event(db, QC, lot_id, "start_testing")
    with pytest.raises(Conflict, match="cannot be released"):
        event(db, QA, lot_id, "release")
    event(db, KEEPER, lot_id, "expire", "超过有效期")
    assert status(db, lot_id) == "expired"


@pytest.mark.clause("TJ-6.3.1", "TJ-6.3.2.2.c", "SH-7.1.3")
def test_container_labels_carry_the_code_the_lot_and_the_expiry_and_printing_is_recorded(
    db: Database,
) -> None:
    _, lot_id = received(db, containers=2)
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        lot = lots.get_lot(uow.session, lot_id)
        pdf = labels.print_labels(uow, lot.containers, "pdf")
        zpl = labels.print_labels(uow, lot.containers[:1], "zpl").decode()
        number, code, expiry = lot.lot_number, lot.containers[0].code, lot.expiry_date
        uow.commit()
    assert expiry is not None
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=600 / 72).to_pil().convert("L")
    found = {str(b.format): b.text for b in zxingcpp.read_barcodes(image)}
    assert found["Code 128"] == code
    matrix = gs1.parse(found["Data Matrix"])
    assert (matrix.get("91"), matrix.batch, matrix.expiry) == (code, number, expiry)
    words = PdfReader(io.BytesIO(pdf)).pages[0].extract_text().replace("\x00", "")
    for shown in ("丹参", "HB-DS-001", number, SUPPLIER_LOT, "25 kg", expiry.isoformat()):
        assert shown in words
    assert f"^FD{code}^FS" in zpl and "^BXN" in zpl
    printed = audit_entries(db, event="label.print")
    assert [e.changes["format"][1] for e in printed[-2:]] == ["pdf", "zpl"]
    assert printed[-2].changes["containers"][1] == [f"{number}-001", f"{number}-002"]
    assert ledger.verify(db).intact


@pytest.mark.clause("TJ-6.3.1", "TJ-6.3.2.1")
def test_a_scanned_code_finds_its_lot(db: Database) -> None:
    _, lot_id = received(db)
    with db.sessions() as session:
        lot = lots.get_lot(session, lot_id)
        container = lot.containers[1]
        own_label = labels.element_string(container)
        scans = [
            container.code,
            container.code.lower(),
            lot.lot_number,
            "]d2" + own_label.element_string(),  # our own container label's DataMatrix
            f"(01){GTIN}(10){SUPPLIER_LOT}(21)0003",  # the supplier's label of the third container
        ]
        for scanned in scans:
            found = lots.find_by_scan(session, scanned)
            assert found is not None and found.id == lot_id, scanned
        assert lots.find_by_scan(session, "NO-SUCH-CODE") is None
        assert [x.id for x in lots.list_lots(session, text=container.code)] == [lot_id]
        assert lot_id in [
            x.id for x in lots.list_lots(session, material_code="HB-DS-001", status="quarantine")
        ]
        assert lot_id not in [x.id for x in lots.list_lots(session, status="released")]


@pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.1", "SH-7.1.2")
def test_the_api_receives_scans_completes_prints_and_qa_releases(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        keeper = token(client, KEEPER)
        body = {"supplier_code": "SUP-TL-MAN", "material_code": "EXC-MAN-01", "delivery_note": "LN-DN-0301",
                "supplier_lot": "MN2611-007", "manufacture_date": "2026-11-01", "expected_containers": 2,
                "quantity_per_container": "25.000"}  # fmt: skip
        qc = token(client, QC)
        assert client.post("/api/v1/receipts", headers=qc, json=body).status_code == 403
        created = client.post("/api/v1/receipts", headers=keeper, json=body)
        assert created.status_code == 201, created.text
        receipt = created.json()
        assert receipt["lot_number"].startswith("FL") and receipt["scanned"] == 0
        url = f"/api/v1/receipts/{receipt['id']}"
        first = client.post(f"{url}/scans", headers=keeper, json={"scan": f"]d201{GTIN}10MN2611-007\x1d21A1"})
        assert first.status_code == 201, first.text
        wrong = client.post(f"{url}/scans", headers=keeper, json={"scan": f"]d201{GTIN}10MN2611-999\x1d21A2"})
        assert wrong.status_code == 409
        assert wrong.json()["error"]["code"] == "scan_refused"
        assert "MN2611-999" in wrong.json()["error"]["message"]
        client.post(f"{url}/scans", headers=keeper, json={"scan": "MN2611-007/2"})
        checks = {"packaging_intact": True, "seals_intact": True, "labels_legible": True, "password": DEMO_PASSWORD,
                  "login": KEEPER}  # fmt: skip
        done = client.post(f"{url}/complete", headers=keeper, json=checks)
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed"
        code = first.json()["code"]
        got = client.get(f"/api/v1/containers/{code.lower()}", headers=qc)
        assert got.json()["code"] == code
        pdf = client.get(f"/api/v1/containers/{code}/label.pdf", headers=keeper)
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        zpl = client.get(f"{url}/labels.zpl", headers=keeper)
        assert zpl.headers["content-type"].startswith("text/plain") and zpl.text.count("^XA") == 2
        lot_id = receipt["lot_id"]
        found = client.get("/api/v1/lots", headers=qc, params={"q": code}).json()
        assert [x["id"] for x in found] == [lot_id]
        sampled = client.post(f"/api/v1/lots/{lot_id}/start-testing", headers=qc, json={"reason": "取样"})
        assert sampled.json()["status"] == "under_test"
        certified(db, lot_id)
        qa = token(client, QA)
        refused = client.post(f"/api/v1/lots/{lot_id}/release", headers=qa,
                              json={"reason": "合格", "password": "Wrong#2026", "login": QA})  # fmt: skip
        assert refused.status_code == 401
        released = client.post(f"/api/v1/lots/{lot_id}/release", headers=qa,
                               json={"reason": "合格", "password": DEMO_PASSWORD, "login": QA})  # fmt: skip
        assert released.status_code == 200, released.text
        assert released.json()["status"] == "released"
        client.post("/login", data={"login": QA, "password": DEMO_PASSWORD})
        page = client.get(f"/wms/lots/{lot_id}").text  # the lot page links its certificates (TJ-7.1)
        assert 'data-testid="lot-certificates"' in page and f"COA-T{lot_id}-1" in page
        assert (
            client.get(f"/api/v1/lots/{lot_id}", headers=keeper).json()["container_list"][0]["code"] == code
        )


@pytest.mark.clause("SH-7.1.4", "SH-7.1.4.c", "TJ-6.4.1")
def test_a_release_signature_cannot_be_given_without_the_release(db: Database) -> None:
    _, lot_id = received(db)
    event(db, QC, lot_id, "start_testing")
    with TestClient(create_app(db)) as client:
        qa = token(client, QA)
        body = {"object_type": "lot", "object_id": str(lot_id), "action": "lot.release", "password": DEMO_PASSWORD,
                "login": QA}  # fmt: skip
        refused = client.post("/api/v1/esign/signatures", headers=qa, json=body)
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["code"] == "signature_refused"
    assert status(db, lot_id) == "under_test"
    with db.sessions() as session:
        assert esign.manifestations(session, "lot", str(lot_id)) == []
