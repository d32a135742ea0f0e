"""GS1 element strings as scanners type them (issue 5 receipt by scanning; NMPAB/T 1002 GS1 path)."""

from __future__ import annotations

from datetime import date

import pytest

from pharmatrace.codes import gs1

pytestmark = pytest.mark.clause("TJ-5.2.1.1", "TJ-6.3.2.1", "SH-6.2.5.1")

GS = "\x1d"


def test_check_digits_of_published_gs1_numbers() -> None:
    # EAN-13 and GTIN-14 from GS1's own examples, and the SSCC of the GS1 General Specifications
    for number in ("4006381333931", "09506000134352", "106141411234567897"):
        assert gs1.valid_check_digit(number), number
    assert not gs1.valid_check_digit("09506000134353")
    assert gs1.check_digit("0950600013435") == "2"


def test_a_scanned_gs1_datamatrix_with_symbology_prefix_and_group_separators() -> None:
    scan = "]d2" + "0109506000134352" + "17271231" + "10DS2611001" + GS + "21000123" + "\r\n"
    parsed = gs1.parse(scan)
    assert parsed.elements == [
        ("01", "09506000134352"),
        ("17", "271231"),
        ("10", "DS2611001"),
        ("21", "000123"),
    ]
    assert (parsed.gtin, parsed.batch, parsed.serial, parsed.expiry) == (
        "09506000134352", "DS2611001", "000123", date(2027, 12, 31))  # fmt: skip
    assert parsed.element_string() == "0109506000134352" + "17271231" + "10DS2611001" + GS + "21000123"
    assert gs1.parse(parsed.human_readable()).elements == parsed.elements


def test_the_parenthesised_form_and_day_zero_meaning_the_end_of_the_month() -> None:
    parsed = gs1.parse("(01)09506000134352(17)280200(10)AB-12")
    assert parsed.expiry == date(2028, 2, 29)  # leap year
    assert gs1.gs1_date("991231", today=date(2026, 11, 23)) == date(1999, 12, 31)  # more than 50 years ahead
    assert gs1.gs1_date("751231", today=date(2026, 11, 23)) == date(2075, 12, 31)


@pytest.mark.clause("TJ-10.1.3.2.b")
@pytest.mark.parametrize(
    ("scan", "message"),
    [
        ("0109506000134353", "check digit"),
        ("01095060001343", "needs 14 characters"),
        ("17271332", "not a GS1 date"),
        ("(01)09506000134352(99", "not a GS1 element string"),
        ("8888123", "Unknown GS1 application identifier"),
        ("10" + "A" * 21, "at most 20 characters"),
        ("10AB CD", "characters GS1 does not allow"),
        ("]d2", "empty"),
    ],
)
def test_bad_scans_are_refused_with_the_reason(scan: str, message: str) -> None:
    with pytest.raises(gs1.InvalidElementString, match=message):
        gs1.parse(scan)
