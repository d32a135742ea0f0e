"""Sample labels (TJ-7.5.1) and the sample data sets (TJ-B.2.4.1): the code as a barcode, traceable to the
planting base or the supplier; printing audited; the exchange records in the guide's short names."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pypdfium2
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from lims_sampling_steps import MANNITOL, QC, QC_REVIEWER, lot, sample_lot, samples_of, step
from pypdf import PdfReader
from sqlalchemy import select

from helpers import LOGIN_BY_ROLE, audit_entries, token
from pharmatrace.exchange import datasets
from pharmatrace.kernel import clock
from pharmatrace.lims import samples
from pharmatrace.lims.sample_models import Sample
from pharmatrace.lims.sample_schemas import SampleReceive, SampleStore
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

SANQI = "SQ20261025"  # the demo's 三七, sampled by the demo seed (every package: a precious herb)
D = Decimal


def _demo_samples(db: Database) -> dict[str, Sample]:
    with db.sessions() as session:
        found = {
            s.kind: s
            for s in session.scalars(
                select(Sample).where(Sample.lot_number == lot(db, SANQI).lot_number)
            ).unique()
        }
        for s in found.values():
            _ = s.events, s.record
        session.expunge_all()
        return found


def _text(pdf: bytes, page: int = 0) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[page].extract_text().replace("\x00", "").replace("\n", "")


@pytest.mark.clause("TJ-7.5.1", "TJ-5.1", "SH-7.1.3.e")
def test_a_retained_sample_label_carries_its_code_as_barcodes_and_names_the_planting_base(
    db: Database,
) -> None:
    retained = _demo_samples(db)["retained"]
    with TestClient(create_app(db)) as client:
        headers = token(client, QC)
        pdf = client.get(f"/api/v1/lims/samples/{retained.code}/label.pdf", headers=headers)
        zpl = client.get(f"/api/v1/lims/samples/{retained.code}/label.zpl", headers=headers)
        reader = client.get(
            f"/api/v1/lims/samples/{retained.code}/label.pdf", headers=token(client, QC_REVIEWER)
        )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert reader.status_code == 403  # printing labels belongs to who samples
    words = _text(pdf.content)
    sampled = clock.to_beijing(retained.events[0].done_at).date().isoformat()
    with db.sessions() as session:
        until = samples.retention_of(session, retained.lot_id).until
    assert until is not None
    for shown in (retained.code, "HB-SQ-001", "三七", retained.lot_number, "0.4 kg", sampled, "王芳", "wangfang",
                  "文山三七GAP基地", "WS-FY-2610-01", until.isoformat(), retained.record.code):  # fmt: skip
        assert shown in words, shown
    image = pypdfium2.PdfDocument(pdf.content)[0].render(scale=600 / 72).to_pil().convert("L")
    found = {str(b.format): b.text for b in zxingcpp.read_barcodes(image)}
    assert found["Code 128"] == retained.code and found["Data Matrix"] == retained.code
    assert f"^FD{retained.code}^FS" in zpl.text and "^BXN" in zpl.text
    printed = [e for e in audit_entries(db, event="label.print") if e.object_type == "lims_sample"]
    assert [e.changes["format"][1] for e in printed] == ["pdf", "zpl"]
    assert printed[0].changes["samples"][1] == [retained.code] and printed[0].actor_login == QC


@pytest.mark.clause("TJ-7.5.1", "TJ-B.2.4.1.1")
def test_the_labels_of_a_sampling_record_name_the_supplier_of_a_material_without_a_base(db: Database) -> None:
    record = sample_lot(db, MANNITOL)
    made = samples_of(db, record.id)
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": QC, "password": "Pharma@2026"})
        page = client.get(f"/lims/sampling/{record.id}")
        pdf = client.get(f"/lims/sampling/{record.id}/labels.pdf")
    assert (
        page.status_code == 200 and 'data-testid="reproduced"' in page.text and str(record.seed) in page.text
    )
    assert pdf.status_code == 200
    assert len(PdfReader(io.BytesIO(pdf.content)).pages) == 2
    first, second = _text(pdf.content, 0), _text(pdf.content, 1)
    assert made["test"] in first and made["retained"] in second
    for words in (first, second):
        assert "鲁南药用辅料有限公司" in words and "SUP-TL-MAN" in words and "EXC-MAN-01" in words
    assert "0.2 kg" in first  # 0.05 kg from each of the 4 drums drawn
    printed = [e for e in audit_entries(db, event="label.print") if e.object_type == "lims_sample"]
    assert printed[-1].changes["samples"][1] == [made["test"], made["retained"]]


@pytest.mark.clause("TJ-B.2.4.1.1", "TJ-B.2.4.1.2", "TJ-B.2.4.1.3", "TJ-B.2.4.1.6", "TJ-B.1.5")
def test_the_sample_data_sets_give_the_demo_samples_in_the_guides_words(db: Database) -> None:
    demo = _demo_samples(db)
    test, retained = demo["test"], demo["retained"]
    number = test.lot_number
    datasets.load_all()  # the areas' mappings, as the export loads them
    with db.sessions() as session:
        sources = datasets.SOURCES
        sampling = datasets.REGISTRY["TJ-B.2.4.1.1"].records(sources["TJ-B.2.4.1.1"].records(session))
        receipts = datasets.REGISTRY["TJ-B.2.4.1.2"].records(sources["TJ-B.2.4.1.2"].records(session))
        storage = datasets.REGISTRY["TJ-B.2.4.1.3"].records(sources["TJ-B.2.4.1.3"].records(session))
        kept = datasets.REGISTRY["TJ-B.2.4.1.6"].records(sources["TJ-B.2.4.1.6"].records(session))
        until = samples.retention_of(session, retained.lot_id).until
    assert until is not None
    # the demo's 三七 lot only: the finished-product lot of the completed batch is sampled too (lims.certificate_demo)
    sampling, receipts, storage, kept = (
        [r for r in found if r["PH"] == number] for found in (sampling, receipts, storage, kept)
    )
    assert {r["YPMC"] for r in sampling} == {"三七（中药材） 检验样品", "三七（中药材） 留样"}
    first = next(r for r in sampling if r["YPMC"] == "三七（中药材） 检验样品")
    assert (first["PH"], first["QYJS"], first["QYL"], first["QYR"]) == (
        number,
        "4/4",
        "0.4 kg",
        "王芳（wangfang）",
    )
    assert first["QYSJ"] == clock.format_exchange(test.record.sampled_at)
    assert {(r["PH"], r["YPL"], r["JSR"]) for r in receipts} == {(number, "0.4 kg", "王芳（wangfang）")}
    assert [(r["CFDD"], r["HJTJ"]) for r in storage] == [("QC 样品室 样品柜 2", "阴凉（≤20 °C），避光"),
                                                       ("留样室（QC-RS）留样柜 A-03", "阴凉干燥，≤20 °C，相对湿度 ≤65 %")]  # fmt: skip
    assert kept == [{
        "YPMC": "三七（中药材） 留样", "PH": number, "SL": 0.4,
        "YXQ": lot(db, SANQI).expiry_date.strftime("%Y%m%d"),  # type: ignore[union-attr]
        "LYQX": until.strftime("%Y%m%d"), "LYDD": "留样室（QC-RS）留样柜 A-03", "BCTJ": retained.storage_condition,
    }]  # fmt: skip


@pytest.mark.clause("TJ-B.2.4.1.5", "TJ-B.1.3")
def test_the_disposal_data_set_is_exported_through_the_exchange_api(db: Database) -> None:
    from lims_sampling_steps import QUARANTINED, disposal

    code = samples_of(db, sample_lot(db, QUARANTINED).id)["test"]
    step(db, "receive", code, SampleReceive(quantity=D("0.6"), condition="完好"))
    step(db, "store", code, SampleStore(location="样品柜 1", conditions="阴凉"))
    step(db, "dispose", code, disposal())
    with TestClient(create_app(db)) as client:
        qa = token(client, LOGIN_BY_ROLE["qa_reviewer"])
        exported = client.get("/api/v1/exchange/datasets/TJ-B.2.4.1.5", headers=qa)
        keeper = client.get("/api/v1/exchange/datasets/TJ-B.2.4.1.5", headers=token(client, "zhouqiang"))
    assert exported.status_code == 200, exported.text
    records = json.loads(exported.content)["records"]
    assert len(records) == 1
    row = records[0]
    assert (row["SYL"], row["XHL"], row["ZT"], row["CZDD"], row["CZFF"]) == ("0.6 kg", "0.6 kg", "已处置", "危废暂存间",
                                                                            "焚烧")  # fmt: skip
    assert row["CZRY"] == "王芳（wangfang），监督人 孙丽（sunli）" and len(row["CZSJ"]) == len(
        "20261129T120000"
    )
    assert keeper.status_code == 403
