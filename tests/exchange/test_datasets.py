"""Appendix B data sets: the guide's short names and formats, checked against the requirements catalogue."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from helpers import LOGIN_BY_ROLE, audit_entries, token
from pharmatrace.compliance import catalogue
from pharmatrace.exchange import datasets
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.clause("TJ-B.1.3", "TJ-B.1.5")


def test_every_mapping_uses_the_short_names_of_its_table_in_the_guide() -> None:
    cat = catalogue.load()
    assert datasets.REGISTRY, "at least the audit-trail and signature data sets are mapped"
    for clause, dataset in datasets.REGISTRY.items():
        assert dataset.short_names == cat[clause].short_names, clause


def test_values_take_the_exchange_formats_of_b_1_5() -> None:
    moment = datetime(2026, 11, 23, 16, 30, 5, tzinfo=UTC)  # 2026-11-24 00:30:05 in Beijing
    assert datasets.format_value("日期时间型", moment) == "20261124T003005"
    assert datasets.format_value("日期型", moment) == "20261124"
    assert datasets.format_value("日期型", date(2027, 6, 30)) == "20270630"
    assert datasets.format_value("布尔型", True) == "True" and datasets.format_value("布尔型", 0) == "False"
    assert datasets.format_value("浮点型", Decimal("25.50")) == 25.5
    assert datasets.format_value("整数型", "40") == 40
    assert datasets.format_value("字符型", {"b": 1, "a": "丹参"}) == '{"a": "丹参", "b": 1}'
    assert datasets.format_value("字符型", None) is None


@pytest.mark.clause("TJ-B.2.5", "SH-7.1.3.e", "TJ-10.1.1.2.c")
def test_the_audit_trail_data_set_is_an_audited_export(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        headers = token(client, LOGIN_BY_ROLE["qa_reviewer"])
        response = client.get("/api/v1/audit/export", headers=headers,
                              params={"format": "json", "object_type": "material", "object_id": "1"})  # fmt: skip
    assert response.status_code == 200, response.text
    document = json.loads(response.content)
    assert document["dataset"] == "TJ-B.2.5"
    created = document["records"][-1]  # oldest last: the material's creation by the seed
    assert list(created) == ["CZDX", "CZLX", "CZZ", "CZSJ", "CZYY", "JZ", "XZ"]
    assert created["CZDX"] == "material:1" and created["CZLX"] == "create"
    assert len(created["CZSJ"]) == 15 and created["CZSJ"][8] == "T"
    assert json.loads(created["XZ"])["code"] == "HB-DS-001"
    export = audit_entries(db, event="audit.export")[-1]
    assert export.changes["format"] == [None, "json"]


@pytest.mark.clause("TJ-B.2.6", "SH-7.1.4.b")
def test_the_signature_data_set_is_in_chinese_and_beijing_time() -> None:
    signature = Signature(object_type="material", object_id="1", action="material.approve", step=1,
                          meaning="approved", signer_id=1, signer_login="zhaomin", signer_name="赵敏",
                          signed_at=datetime(2026, 11, 23, 1, 2, 3, tzinfo=UTC), record_hash="0" * 64,
                          key_fingerprint="f" * 16, signature=b"")  # fmt: skip
    assert datasets.SIGNATURES.record(signature) == {
        "QMR": "赵敏（zhaomin）",
        "QMSJ": "20261123T090203",
        "QMHY": "批准",
    }
