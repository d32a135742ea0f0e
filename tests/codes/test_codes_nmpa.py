"""The 20-digit drug traceability code of the national scheme and the issuer's pool file: what can be checked is
checked (length, digits, product identifier), the first bad line is named, nothing half-read (NMPAB/T 1002)."""

from __future__ import annotations

import pytest

from pharmatrace.codes import nmpa

pytestmark = pytest.mark.clause("SH-6.2.5.1", "TJ-6.3.4")

PRODUCT = "8123456"
GOOD = [f"{PRODUCT}{n:09d}{(n * 7919) % 10000:04d}" for n in (1, 2, 3)]


def test_a_code_splits_into_product_identifier_serial_and_the_issuers_check() -> None:
    code = nmpa.parse(" 81234560000000429876 ", prefix=PRODUCT)
    assert (code.value, code.product, code.serial, code.check) == (
        "81234560000000429876", PRODUCT, "000000042", "9876")  # fmt: skip
    assert nmpa.validate_identifier("8123456") == "8123456"
    refusals = {
        "8123456000000042987": "has 19 characters",  # one digit short
        "812345600000004298761": "has 21 characters",
        "8123456000000042987X": "characters other than digits",
        "８１２３４５６０００００００４２９８７６": "characters other than digits",  # full-width digits
        "81234570000000429876": "does not start with the product identifier 8123456",
    }
    for value, message in refusals.items():
        with pytest.raises(nmpa.InvalidTraceCode, match=message):
            nmpa.parse(value, prefix=PRODUCT)
    for identifier in ("812345", "81234567", "812345A"):
        with pytest.raises(nmpa.InvalidTraceCode, match="7 digits"):
            nmpa.validate_identifier(identifier)


def test_a_pool_file_is_read_whole_or_refused_at_its_first_bad_line() -> None:
    # UTF-8 with BOM, a header, CSV columns, blank lines and CRLF: what issuers' exports look like
    text = "\ufeff追溯码,生产日期\r\n" + f'{GOOD[0]},2026-11-01\r\n\r\n"{GOOD[1]}";x\r\n{GOOD[2]}\r\n'
    assert nmpa.read_pool_file(text.encode(), PRODUCT) == GOOD
    assert nmpa.read_pool_file(("码\n" + "\n".join(GOOD)).encode("gb18030"), PRODUCT) == GOOD
    bad = {
        f"code\n{GOOD[0]}\n{GOOD[1][:-1]}\n": r"Line 3: Code \d{19} has 19 characters",
        f"{GOOD[0]}\n{GOOD[1][:-1]}A\n": "Line 2: Code .* contains characters other than digits",
        f"{GOOD[0]}\n8123457{GOOD[1][7:]}\n": "Line 2: Code 8123457.* does not start with the product identifier",
        f"{GOOD[0]}\n{GOOD[1]}\n\n{GOOD[0]}\n": f"Line 4: code {GOOD[0]} appears already on line 1",
        "code\nsecond header\n": "Line 2: Code second header has 13 characters",
        "code\n\n": "The file holds no codes",
    }
    for content, message in bad.items():
        with pytest.raises(nmpa.InvalidTraceCode, match=message):
            nmpa.read_pool_file(content.encode(), PRODUCT)
    with pytest.raises(nmpa.InvalidTraceCode, match="not text"):
        nmpa.read_pool_file(b"\xff\xfe\x00\x81\x00", PRODUCT)
    assert nmpa.line_of(text.encode(), GOOD[2]) == 5
