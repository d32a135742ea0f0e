"""The 20-digit drug traceability code of the national scheme (药品追溯码, NMPAB/T 1002-2019; SH-6.2.5.1, TJ-6.3.4).

NMPAB/T 1002 lets a drug traceability code be either 20 characters whose first 7 are the **product identifier**
(药品标识码: holder, drug, dosage form, strength, pack size and level), the rest a production identifier, or a
code following ISO standards (GS1 in practice, :mod:`pharmatrace.codes.gs1`). The format the code issuers use
(码上放心-style platforms) is all digits::

    8 1 2 3 4 5 6 | 0 0 0 0 0 0 0 0 1 | 9 8 7 6
    product (7)   | unit serial (9)   | issuer's check (4)

The 4 check digits follow an algorithm that belongs to the issuer and is not public: such codes are bought from
the issuer as **pools** (a file, one code per line) and validated here for what can be checked: 20 characters,
digits only, the product identifier as prefix. Uniqueness (a code is never reused) is the database's and the
lifecycle's (:func:`pharmatrace.trace.lifecycle.create`).

Every level of saleable packaging is coded, each level with its own product identifier:

* level 1 — the minimum saleable unit (最小销售包装单元), e.g. one vial;
* level 2 — the middle pack (中包装), e.g. a box of 10 vials;
* level 3 — the outer case (外箱), e.g. a case of 20 boxes.

Codes are printed as Code 128 with the human-readable digits below (NMPAB/T 1011); levels are linked by
aggregation (SH-6.2.5.1).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from pharmatrace.kernel.errors import N_, Reasons, ValidationFailed

LENGTH = 20
PRODUCT_DIGITS = 7
SERIAL_DIGITS = 9
CHECK_DIGITS = 4
LEVELS = {1: N_("Minimum saleable unit"), 2: N_("Middle pack"), 3: N_("Outer case")}
_DIGITS = re.compile(r"[0-9]+")
_SHOWN = 40  # characters of a bad line shown in a message


class InvalidTraceCode(ValidationFailed):
    code = "invalid_trace_code"


@dataclass(frozen=True, slots=True)
class NmpaCode:
    """A 20-digit code split into its parts."""

    value: str
    product: str  # 药品标识码, 7 digits
    serial: str  # unit serial, 9 digits
    check: str  # the issuer's check, 4 digits (not recomputable)


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "…"


def validate_identifier(code: str) -> str:
    """A 7-digit product identifier (药品标识码), or refused."""
    value = code.strip()
    if len(value) != PRODUCT_DIGITS or not _DIGITS.fullmatch(value):
        raise InvalidTraceCode(
            N_("{code} is not a product identifier: a product identifier has 7 digits"), code=_shown(value)
        )
    return value


def parse(value: str, *, prefix: str | None = None) -> NmpaCode:
    """Validate one code: 20 characters, digits only, and (when given) the product identifier ``prefix``."""
    code = value.strip()
    if len(code) != LENGTH:
        raise InvalidTraceCode(
            N_("Code {code} has {length} characters: a drug traceability code has 20 digits"),
            code=_shown(code), length=len(code),
        )  # fmt: skip
    if not _DIGITS.fullmatch(code):
        raise InvalidTraceCode(N_("Code {code} contains characters other than digits"), code=code)
    if prefix is not None and not code.startswith(prefix):
        raise InvalidTraceCode(
            N_("Code {code} does not start with the product identifier {prefix}"), code=code, prefix=prefix
        )
    return NmpaCode(code, code[:PRODUCT_DIGITS], code[PRODUCT_DIGITS : PRODUCT_DIGITS + SERIAL_DIGITS],
                    code[-CHECK_DIGITS:])  # fmt: skip


def is_code(value: str) -> bool:
    """Whether ``value`` has the form of a 20-digit code."""
    return len(value) == LENGTH and _DIGITS.fullmatch(value) is not None


def decode(data: bytes) -> str:
    """An issuer's file as text: UTF-8 (with or without BOM), else GB 18030 (what Chinese office tools write)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise InvalidTraceCode(N_("The file is not text (UTF-8 or GB 18030)")) from None


def _first_field(line: str) -> str:
    """The first column of a CSV line (comma, semicolon or tab separated; quotes removed)."""
    dialect = "excel-tab" if "\t" in line else "excel"
    text = line.replace(";", ",") if dialect == "excel" else line
    row = next(csv.reader(io.StringIO(text), dialect=dialect), [""])
    return (row[0] if row else "").strip()


def read_pool_file(data: bytes, prefix: str) -> list[str]:
    """The codes of an issuer's file (text or CSV, one code per line in the first column), in file order.

    The first line is a header when it has no digit at all (``追溯码``, ``code,…``); blank lines are skipped.
    Every code is validated (:func:`parse` with ``prefix``) and none may appear twice: the first bad line refuses
    the whole file, naming its line number and code, so a pool is imported whole or not at all.
    """
    lines = decode(data).splitlines()
    codes: list[str] = []
    first_line: dict[str, int] = {}
    header_allowed = True
    for number, line in enumerate(lines, start=1):
        value = _first_field(line) if line.strip() else ""
        if not value:
            continue
        if header_allowed and not any(ch.isdigit() for ch in value):
            header_allowed = False  # a header line: 追溯码, code, …
            continue
        header_allowed = False
        try:
            parse(value, prefix=prefix)
        except InvalidTraceCode as error:
            raise InvalidTraceCode(
                N_("Line {line}: {reason}"), line=number, reason=Reasons([error])
            ) from None
        if value in first_line:
            raise InvalidTraceCode(
                N_("Line {line}: code {code} appears already on line {first}"),
                line=number, code=value, first=first_line[value],
            )  # fmt: skip
        first_line[value] = number
        codes.append(value)
    if not codes:
        raise InvalidTraceCode(N_("The file holds no codes"))
    return codes


def line_of(data: bytes, code: str) -> int | None:
    """The line number of ``code`` in an issuer's file (to name it when the database already holds it)."""
    for number, line in enumerate(decode(data).splitlines(), start=1):
        if line.strip() and _first_field(line) == code:
            return number
    return None
