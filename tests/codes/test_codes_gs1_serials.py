"""GS1 serialization: GTIN-14 check digits, random non-sequential serials from a cryptographic generator, the
canonical stored value and the element string and Digital Link that round-trip to it (NMPAB/T 1002 GS1 path)."""

from __future__ import annotations

from datetime import date

import pytest

from pharmatrace.codes import gs1

pytestmark = pytest.mark.clause("SH-6.2.5.1", "TJ-6.3.4")

GTIN = "06901234567892"


def test_gtin_14_is_refused_unless_its_check_digit_is_right() -> None:
    assert gs1.validate_gtin(" 09506000134352 ") == "09506000134352"  # GS1's own example
    assert gs1.validate_gtin(GTIN) == GTIN
    with pytest.raises(gs1.InvalidElementString, match="should be 2"):
        gs1.validate_gtin("06901234567891")
    for bad in ("6901234567892", "0690123456789X", "069012345678920"):
        with pytest.raises(gs1.InvalidElementString, match="not a GTIN-14"):
            gs1.validate_gtin(bad)


def test_serials_are_random_distinct_and_round_trip_through_element_string_and_digital_link() -> None:
    serials = gs1.random_serials(2000, length=12)
    assert len(set(serials)) == 2000 and all(len(s) == 12 and s.isalnum() for s in serials)
    assert serials != sorted(serials)  # not drawn in sequence
    assert len({s[:3] for s in serials}) > 500  # spread over the space, no common prefix
    assert set(gs1.random_serials(5000, length=12)).isdisjoint(serials)
    assert all(s.isdigit() and len(s) == 13 for s in gs1.random_serials(100, length=13, alphabet="digits"))
    with pytest.raises(gs1.InvalidElementString, match="guessable"):
        gs1.random_serials(1000, length=6, alphabet="digits")  # 10^6 serials for 1000 items: too dense

    expiry = date(2028, 10, 31)
    for serial in serials[:50]:
        stored = gs1.serialized_value(GTIN, serial)
        assert stored == f"01{GTIN}21{serial}" and gs1.split_serialized(stored) == (GTIN, serial)
        scan = "]d2" + gs1.item_element_string(GTIN, serial, "DH261101", expiry)
        assert scan == f"]d201{GTIN}17281031" + "10DH261101" + gs1.GS + f"21{serial}"
        parsed = gs1.parse(scan)
        assert (parsed.gtin, parsed.serial, parsed.batch, parsed.expiry) == (GTIN, serial, "DH261101", expiry)
        link = gs1.digital_link(GTIN, serial, "DH261101", expiry)
        assert link == f"https://id.gs1.org/01/{GTIN}/10/DH261101/21/{serial}?17=281031"
        assert gs1.parse_digital_link(link).elements == [
            ("01", GTIN), ("10", "DH261101"), ("21", serial), ("17", "281031")]  # fmt: skip
    assert gs1.split_serialized("81234560000000429876") is None
    with pytest.raises(gs1.InvalidElementString):
        gs1.parse_digital_link("https://example.com/products/42")
