"""Appendix B data sets out of the system (TJ-B.1.3, TJ-B.1.5): the material data set of the demo lots
(TJ-B.2.2.1), the equipment data set (TJ-B.2.1), through the API and the command line; every export is
audited, and a refusal exports and records nothing."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import LOGIN_BY_ROLE, audit_entries, token
from pharmatrace.cli import app
from pharmatrace.compliance import catalogue
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.equipment.models import Equipment
from pharmatrace.exchange import datasets, export
from pharmatrace.kernel import clock
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app
from pharmatrace.wms.datasets import LOT_STATUS_WORDS, MATERIAL_DATA_SET, lots_for_exchange
from pharmatrace.wms.models import Lot

QA = LOGIN_BY_ROLE["qa_reviewer"]
KEEPER = LOGIN_BY_ROLE["warehouse_keeper"]
INSPECTOR = LOGIN_BY_ROLE["inspector"]
API = "/api/v1/exchange/datasets"


def exports(db: Database) -> list[tuple[str, dict[str, object]]]:
    return [(e.object_id, e.changes) for e in audit_entries(db, event=export.EXPORT_EVENT)]


@pytest.mark.clause("TJ-B.2.2.1", "TJ-B.1.3")
def test_the_material_data_set_has_the_short_names_of_table_b3() -> None:
    registered = datasets.load_all()
    assert "TJ-B.2.2.1" in registered and "TJ-B.2.1" in registered
    cat = catalogue.load()
    for clause, dataset in registered.items():
        assert dataset.short_names == cat[clause].short_names, clause


@pytest.mark.clause("TJ-B.2.2.1", "TJ-B.1.5")
def test_each_demo_lot_is_one_record_in_the_guides_formats_and_words(db: Database) -> None:
    with db.sessions() as session:
        lots = list(lots_for_exchange(session))
        records = MATERIAL_DATA_SET.records(lots)
        void = session.scalars(select(Lot).where(Lot.voided_at.is_not(None))).unique().all()
        assert not {lot.id for lot in void} & {lot.id for lot in lots}
        assert {lot.status for lot in lots} >= {"quarantine", "under_test", "released", "rejected"}
        for lot, record in zip(lots, records, strict=True):
            assert record["WLMC"] == lot.material.name and record["WLBM"] == lot.material.code
            assert record["WLPH"] == lot.lot_number and record["GYS"] == lot.supplier.name
            assert record["SCRQ"] == lot.manufacture_date.strftime("%Y%m%d")
            assert record["YXQ"] == (lot.expiry_date.strftime("%Y%m%d") if lot.expiry_date else None)
            assert record["SL"] == float(lot.quantity) and isinstance(record["SL"], float)
            assert record["WLZT"] == LOT_STATUS_WORDS[lot.status]
    words = {r["WLZT"] for r in records}
    assert {"待验", "检验中", "已放行", "不放行"} <= words


@pytest.mark.clause("TJ-B.2.2.1", "TJ-B.2.1", "TJ-B.1.3", "SH-7.1.3.e")
def test_the_api_lists_the_data_sets_and_exports_one_as_json_and_csv_audited(db: Database) -> None:
    before = len(exports(db))
    with TestClient(create_app(db)) as client:
        headers = token(client, QA)
        listed = client.get(API, headers=headers)
        assert listed.status_code == 200, listed.text
        by_clause = {d["clause"]: d for d in listed.json()}
        assert by_clause["TJ-B.2.2.1"]["short_names"] == [
            "WLMC",
            "WLBM",
            "WLPH",
            "SCRQ",
            "YXQ",
            "GYS",
            "SL",
            "WLZT",
        ]
        assert by_clause["TJ-B.2.2.1"]["exportable"] and not by_clause["TJ-B.2.5"]["exportable"]
        as_json = client.get(f"{API}/TJ-B.2.2.1", headers=headers)
        as_csv = client.get(f"{API}/tj-b.2.1", headers=headers, params={"format": "csv"})
    assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json"
    document = json.loads(as_json.content)
    assert document["dataset"] == "TJ-B.2.2.1" and document["title"] == "物料管理数据集"
    with db.sessions() as session:
        lots = list(lots_for_exchange(session))
        assert [r["WLPH"] for r in document["records"]] == [lot.lot_number for lot in lots]
        equipment = session.scalars(select(Equipment).where(Equipment.voided_at.is_(None))).unique().all()
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0] == list(datasets.REGISTRY["TJ-B.2.1"].short_names)
    assert sorted(row[1] for row in rows[1:]) == sorted(e.code for e in equipment)
    with TestClient(create_app(db)) as client:
        signatures = client.get(f"{API}/TJ-B.2.6", headers=token(client, QA))
    assert signatures.status_code == 200
    with db.sessions() as session:
        signed = session.scalars(select(Signature).order_by(Signature.id)).all()
        assert signed, "the demo plant's receipts and QA decisions are signed"
        assert [r["QMSJ"] for r in json.loads(signatures.content)["records"]] == [
            clock.format_exchange(s.signed_at) for s in signed
        ]
    recorded = exports(db)[before:-1]
    assert recorded == [
        ("TJ-B.2.2.1", {"format": [None, "json"], "records": [None, len(lots)]}),
        ("TJ-B.2.1", {"format": [None, "csv"], "records": [None, len(equipment)]}),
    ]
    assert audit_entries(db, event=export.EXPORT_EVENT)[-1].actor_login == QA


@pytest.mark.clause("TJ-B.1.3", "SH-7.1.2")
def test_refusals_export_nothing_and_record_nothing(db: Database) -> None:
    before = exports(db)
    with TestClient(create_app(db)) as client:
        keeper = token(client, KEEPER)  # no exchange.export
        assert client.get(API, headers=keeper).status_code == 403
        refused = client.get(f"{API}/TJ-B.2.2.1", headers=keeper)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_permitted"
        qa = {**token(client, QA), "accept-language": "en"}
        unknown = client.get(f"{API}/TJ-B.9.9", headers=qa)
        assert unknown.status_code == 404 and "TJ-B.9.9" in unknown.json()["error"]["message"]
        trail = client.get(f"{API}/TJ-B.2.5", headers=qa)
        assert trail.status_code == 409 and "audit trail" in trail.json()["error"]["message"]
        bad = client.get(f"{API}/TJ-B.2.2.1", headers=qa, params={"format": "pdf"})
        assert bad.status_code == 422
        assert client.get(API).status_code == 401
    assert exports(db) == before


@pytest.mark.clause("TJ-B.2.2.1", "TJ-B.1.3")
def test_the_command_line_lists_and_exports_as_a_logged_in_user(
    cli: CliRunner, db: Database, tmp_path: Path
) -> None:
    listed = cli.invoke(app, ["datasets", "list"])
    assert listed.exit_code == 0, listed.output
    assert "TJ-B.2.2.1" in listed.output and "WLMC WLBM WLPH SCRQ YXQ GYS SL WLZT" in listed.output
    out = tmp_path / "lots.csv"
    done = cli.invoke(app, ["datasets", "export", "TJ-B.2.2.1", "--format", "csv", "--out", str(out),
                            "--as", INSPECTOR, "--password-stdin"], input=f"{DEMO_PASSWORD}\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    with db.sessions() as session:
        assert [row[2] for row in rows[1:]] == [lot.lot_number for lot in lots_for_exchange(session)]
    last = audit_entries(db, event=export.EXPORT_EVENT)[-1]
    assert (last.actor_login, last.object_id, last.changes["format"]) == (
        INSPECTOR,
        "TJ-B.2.2.1",
        [None, "csv"],
    )
    assert audit_entries(db, event="login.success")[-1].actor_login == INSPECTOR
    printed = cli.invoke(app, ["datasets", "export", "TJ-B.2.1", "--as", INSPECTOR, "--password-stdin"],
                         input=f"{DEMO_PASSWORD}\n")  # fmt: skip
    assert printed.exit_code == 0 and json.loads(printed.stdout)["dataset"] == "TJ-B.2.1"


@pytest.mark.clause("TJ-B.1.3", "SH-7.1.2")
def test_the_command_line_refuses_a_user_without_permission_or_a_wrong_password(
    cli: CliRunner, db: Database
) -> None:
    before, failures = exports(db), len(audit_entries(db, event="login.failure"))
    refused = cli.invoke(app, ["datasets", "export", "TJ-B.2.2.1", "--as", KEEPER, "--password-stdin"],
                         input=f"{DEMO_PASSWORD}\n")  # fmt: skip
    assert refused.exit_code == 2 and "exchange.export" in refused.output
    wrong = cli.invoke(app, ["datasets", "export", "TJ-B.2.2.1", "--as", INSPECTOR, "--password-stdin"],
                       input="Wrong#Password1\n")  # fmt: skip
    assert wrong.exit_code == 2
    assert len(audit_entries(db, event="login.failure")) == failures + 1  # the wrong password is recorded
    unknown = cli.invoke(app, ["datasets", "export", "TJ-B.7", "--as", INSPECTOR, "--password-stdin"],
                         input=f"{DEMO_PASSWORD}\n")  # fmt: skip
    assert unknown.exit_code == 2 and "No data set" in unknown.output
    assert exports(db) == before
