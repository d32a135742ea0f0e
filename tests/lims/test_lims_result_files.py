"""Instrument data imported from files (TJ-7.3, TJ-10.1.3.3.a, TJ-10.1.3.4.b): the balance's and the HPLC's exports
kept as they came under their SM3, their values read into raw entries in the formula's units, and a kept file that
was changed afterwards detected when it is opened again. Every refusal changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from lims_result_steps import (
    ANALYST,
    BALANCE_CSV,
    HPLC_CSV,
    PH_CSV,
    attach,
    counts,
    danshen_order,
    enter,
    mannitol_order,
)

from helpers import token
from pharmatrace.kernel.errors import Conflict, ValidationFailed
from pharmatrace.kernel.filestore import sm3_hex
from pharmatrace.kernel.numbers import round_gbt8170
from pharmatrace.lims import instrument_files, instruments, results
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

D = Decimal
ITEM = "含量测定（丹酚酸B）"  # salvianolic_b = (A_s / A_r) * (W_r / W_s) * P * 100, W in mg, ≥ 3.0 %


@pytest.mark.clause("TJ-10.1.3.3.a", "TJ-7.3", "TJ-10.1.3.4.b")
def test_imported_files_are_kept_with_their_sm3_and_give_the_raw_values_in_the_formulas_units(
    db: Database,
) -> None:
    tests = danshen_order(db)
    hplc = attach(db, tests[ITEM], HPLC_CSV, "hplc_csv", "DS-SAB_summary.csv")
    balance = attach(db, tests[ITEM], BALANCE_CSV, "balance_csv", "weighing.csv")
    result = enter(db, tests[ITEM], file_ids=[hplc, balance], raws={"P": "0.962"})
    raws = {r.name: (r.value, r.unit, r.source, r.file_id, r.detail) for r in result.raws}
    assert (
        raws["A_s"][:4] == ("1402240", "", "file", hplc) and "mean of 2 sample injections" in raws["A_s"][4]
    )
    assert raws["A_r"][:4] == ("1523500", "", "file", hplc)
    assert raws["W_r"][:4] == ("10.12", "mg", "file", balance) and "0.01012 g" in raws["W_r"][4]
    assert raws["W_s"][:4] == ("200.15", "mg", "file", balance)
    assert raws["P"] == ("0.962", "", "manual", None, "")
    computed = D(1402240) / D(1523500) * (D("10.12") / D("200.15")) * D("0.962") * 100
    assert (
        D(result.computed or "") == computed and result.reported == str(round_gbt8170(computed, 1)) == "4.5"
    )
    assert result.instrument_code == "HPLC-01"  # the measuring file's instrument; the balance is checked too
    assert '"Processing Method":"DS-SAB-01"' in result.processing
    with db.sessions() as session:
        kept = {f.id: f for f in results.files_of(session, tests[ITEM])}
    assert kept[hplc].sm3 == sm3_hex(HPLC_CSV) and kept[balance].sm3 == sm3_hex(BALANCE_CSV)
    assert kept[hplc].file_name == "DS-SAB_summary.csv" and kept[hplc].instrument_code == "HPLC-01"
    assert instrument_files.open_file(db, kept[hplc].sm3) == HPLC_CSV  # the original bytes, as they came


@pytest.mark.clause("TJ-10.1.3.3.a", "TJ-10.1.4.2.d")
def test_a_kept_file_changed_afterwards_is_detected_when_opened_and_cannot_be_used(db: Database) -> None:
    tests = danshen_order(db)
    hplc = attach(db, tests[ITEM], HPLC_CSV, "hplc_csv")
    path = instrument_files.STORE.path_of(db, sm3_hex(HPLC_CSV))
    path.write_bytes(HPLC_CSV.replace(b"1402230", b"1502230"))  # someone edits the export on the disk
    with pytest.raises(instrument_files.RawFileTampered, match="does not match its SM3 hash"):
        instrument_files.open_file(db, sm3_hex(HPLC_CSV))
    with db.sessions() as session:
        assert not results.file_intact(db, results.get_file(session, hplc))
    before = counts(db)
    with pytest.raises(instrument_files.RawFileTampered):
        enter(db, tests[ITEM], file_ids=[hplc], raws={"W_r": "10.12", "W_s": "200.15", "P": "0.962"})
    assert counts(db) == before
    with TestClient(create_app(db)) as client:
        opened = client.get(f"/api/v1/lims/files/{hplc}", headers=token(client, ANALYST))
    assert opened.status_code == 409 and opened.json()["error"]["code"] == "raw_file_tampered"
    path.unlink()
    with pytest.raises(instrument_files.RawFileTampered, match="missing"):
        instrument_files.open_file(db, sm3_hex(HPLC_CSV))


@pytest.mark.clause("TJ-10.1.3.3.a", "TJ-7.4")
def test_files_that_do_not_read_as_their_format_or_come_from_an_unusable_instrument_are_refused(
    db: Database,
) -> None:
    tests = danshen_order(db)
    before = counts(db)
    refused = [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "balance_csv", "not a CSV text file"),
        (BALANCE_CSV.replace(b"Yes\nW_s", b"No\nW_s"), "balance_csv", "was not stable"),
        (HPLC_CSV, "balance_csv", "no table with the columns ID, Net, Unit"),
        (HPLC_CSV.replace(b"Standard", b"Blank"), "hplc_csv", "needs reference and sample injections"),
    ]
    for data, fmt, message in refused:
        with pytest.raises(instrument_files.RawFileRefused, match=message):
            attach(db, tests[ITEM], data, fmt)
    assert counts(db) == before
    other = attach(db, tests[ITEM], HPLC_CSV.replace(b"HPLC-01", b"UV-01"), "hplc_csv")
    wrong_id = attach(db, tests[ITEM], BALANCE_CSV.replace(b"W_s,", b"W_x,"), "balance_csv")
    volume = attach(db, tests[ITEM], BALANCE_CSV.replace(b",g,", b",mL,"), "balance_csv")
    before = counts(db)
    with pytest.raises(instruments.InstrumentUnusable, match="UV-01"):
        enter(db, tests[ITEM], file_ids=[other], raws={"W_r": "10.12", "W_s": "200.15", "P": "0.962"})
    with pytest.raises(ValidationFailed, match="gives W_x, which is not an input of the formula"):
        enter(db, tests[ITEM], file_ids=[wrong_id], raws={"A_s": "1", "A_r": "1", "P": "0.962"})
    with pytest.raises(ValidationFailed, match="W_r is in mL in the file, but the formula needs mg"):
        enter(db, tests[ITEM], file_ids=[volume], raws={"A_s": "1", "A_r": "1", "P": "0.962"})
    with pytest.raises(ValidationFailed, match="W_r is given twice"):
        enter(db, tests[ITEM], file_ids=[attach(db, tests[ITEM], BALANCE_CSV, "balance_csv")],
              raws={"A_s": "1", "A_r": "1", "W_r": "10", "P": "0.962"})  # fmt: skip
    assert counts(db)[:4] == before[:4]  # no result, raw value or reagent written (one more file kept)


@pytest.mark.clause("TJ-10.1.3.3.a")
def test_a_file_of_another_test_cannot_give_values(db: Database) -> None:
    first, second = danshen_order(db), mannitol_order(db)
    kept = attach(db, first[ITEM], BALANCE_CSV, "balance_csv")
    with pytest.raises(Conflict, match="belongs to another test"):
        enter(db, second["含量测定"], file_ids=[kept], raws={"V_b": "1", "V_s": "0.5", "F": "1"})


@pytest.mark.clause("TJ-7.3")
def test_the_ph_meters_export_gives_the_reading_of_the_sample() -> None:
    parsed = instrument_files.parse(
        "ph_csv", PH_CSV.format(code="S2611-0009").encode(), sample_code="S2611-0009"
    )
    assert [(v.name, v.value) for v in parsed.values] == [("pH", D("6.12"))]
    assert parsed.instrument == "PH-01" and "Temperature 25.1" in parsed.values[0].detail
    with pytest.raises(instrument_files.RawFileRefused, match="0 readings for the sample S2611-0001"):
        instrument_files.parse("ph_csv", PH_CSV.format(code="S2611-0009").encode(), sample_code="S2611-0001")
    gbk = "仪器,PH-01\nSample ID,pH\nS1,5.98\n".encode("gb18030")
    assert instrument_files.parse("ph_csv", gbk, sample_code="S1").values[0].value == D("5.98")
