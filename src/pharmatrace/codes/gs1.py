"""GS1 element strings: what a barcode scanner sends, parsed into application identifiers (AIs).

A keyboard-wedge scanner reading a GS1 DataMatrix or GS1-128 types the element string, e.g.
``]d2010690123456789217271231 10DS2611001<GS>21000123``: an optional symbology identifier (``]d2``,
``]C1``, ``]Q3``, ``]e0``), fixed-length AIs run on, and a variable-length AI ends at the group separator
(ASCII 29, "FNC1") or at the end. People write the same data with parentheses: ``(01)06901234567892(10)…``.
Both forms are accepted; check digits and dates are validated. Issue 10 builds serialization on this;
issue 5's receipt uses it to scan supplier labels.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date

from pharmatrace.kernel.errors import N_, ValidationFailed

GS = "\x1d"
SYMBOLOGY_PREFIXES = ("]d2", "]C1", "]Q3", "]e0", "]J1")


@dataclass(frozen=True, slots=True)
class AI:
    code: str
    title: str
    length: int  # the data length: exact when ``fixed``, the maximum otherwise
    fixed: bool
    kind: str = "text"  # text | digits | gtin | sscc | date


# The application identifiers a drug plant meets on supplier and product labels (GS1 General
# Specifications §3.2), with their data format.
AIS: dict[str, AI] = {
    ai.code: ai
    for ai in (
        AI("00", "SSCC", 18, True, "sscc"),
        AI("01", "GTIN", 14, True, "gtin"),
        AI("02", "CONTENT", 14, True, "gtin"),
        AI("10", "BATCH/LOT", 20, False),
        AI("11", "PROD DATE", 6, True, "date"),
        AI("13", "PACK DATE", 6, True, "date"),
        AI("15", "BEST BEFORE", 6, True, "date"),
        AI("16", "SELL BY", 6, True, "date"),
        AI("17", "USE BY OR EXPIRY", 6, True, "date"),
        AI("20", "VARIANT", 2, True, "digits"),
        AI("21", "SERIAL", 20, False),
        AI("22", "CPV", 20, False),
        AI("240", "ADDITIONAL ID", 30, False),
        AI("241", "CUST. PART No.", 30, False),
        AI("250", "SECONDARY SERIAL", 30, False),
        AI("30", "VAR. COUNT", 8, False, "digits"),
        AI("37", "COUNT", 8, False, "digits"),
        AI("400", "ORDER NUMBER", 30, False),
        AI("401", "GINC", 30, False),
        AI("402", "GSIN", 17, True, "digits"),
        AI("410", "SHIP TO LOC", 13, True, "digits"),
        AI("414", "LOC No.", 13, True, "digits"),
        AI("7003", "EXPIRY TIME", 10, True, "digits"),
        *(AI(f"9{n}", "INTERNAL", 90, False) for n in range(1, 10)),
    )
}
# Net weights and measures (310n, 320n, …: n decimals) are fixed at 6 digits.
for _prefix in ("310", "311", "312", "313", "320", "330", "331", "332"):
    for _n in range(10):
        AIS[f"{_prefix}{_n}"] = AI(f"{_prefix}{_n}", "MEASURE", 6, True, "digits")

_PARENTHESISED = re.compile(r"\((\d{2,4})\)([^()]*)")


class InvalidElementString(ValidationFailed):
    code = "invalid_gs1"


@dataclass
class ElementString:
    """Parsed AIs in scan order; ``get("10")`` for one value."""

    elements: list[tuple[str, str]] = field(default_factory=list)

    def get(self, code: str) -> str | None:
        return next((value for ai, value in self.elements if ai == code), None)

    @property
    def gtin(self) -> str | None:
        return self.get("01")

    @property
    def batch(self) -> str | None:
        return self.get("10")

    @property
    def serial(self) -> str | None:
        return self.get("21")

    @property
    def expiry(self) -> date | None:
        value = self.get("17")
        return gs1_date(value) if value else None

    def human_readable(self) -> str:
        return "".join(f"({ai}){value}" for ai, value in self.elements)

    def element_string(self) -> str:
        """The encodable form: variable-length values end with GS unless they come last."""
        parts = []
        for index, (ai, value) in enumerate(self.elements):
            last = index == len(self.elements) - 1
            parts.append(f"{ai}{value}" + ("" if AIS[ai].fixed or last else GS))
        return "".join(parts)


def check_digit(digits: str) -> str:
    """GS1 mod-10 check digit of ``digits`` (the data without its check digit)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def valid_check_digit(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and check_digit(number[:-1]) == number[-1]


def gs1_date(value: str, *, today: date | None = None) -> date:
    """YYMMDD to a date. DD 00 means the last day of the month; the century follows GS1 §7.12."""
    if not re.fullmatch(r"\d{6}", value):
        raise InvalidElementString(N_("“{value}” is not a GS1 date (YYMMDD)"), value=value)
    yy, month, day = int(value[:2]), int(value[2:4]), int(value[4:])
    current = (today or date.today()).year  # noqa: DTZ011 - only the century is taken from it
    difference = yy - current % 100
    century = current // 100 + (1 if difference <= -50 else -1 if difference >= 51 else 0)
    year = century * 100 + yy
    if not 1 <= month <= 12:
        raise InvalidElementString(N_("“{value}” is not a GS1 date (YYMMDD)"), value=value)
    if day == 0:
        day = calendar.monthrange(year, month)[1]
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidElementString(N_("“{value}” is not a GS1 date (YYMMDD)"), value=value) from None


def _check(ai: AI, value: str) -> None:
    if not value:
        raise InvalidElementString(N_("AI ({ai}) has no data"), ai=ai.code)
    if ai.fixed and len(value) != ai.length:
        raise InvalidElementString(
            N_("AI ({ai}) needs {length} characters, not {got}"), ai=ai.code, length=ai.length, got=len(value)
        )
    if len(value) > ai.length:
        raise InvalidElementString(
            N_("AI ({ai}) allows at most {length} characters"), ai=ai.code, length=ai.length
        )
    if ai.kind in ("digits", "gtin", "sscc", "date") and not value.isdigit():
        raise InvalidElementString(N_("AI ({ai}) takes digits only"), ai=ai.code)
    if ai.kind in ("gtin", "sscc") and not valid_check_digit(value):
        raise InvalidElementString(N_("The check digit of ({ai}) {value} is wrong"), ai=ai.code, value=value)
    if ai.kind == "date":
        gs1_date(value)
    if not ai.kind.startswith(("digits", "gtin", "sscc", "date")) and not re.fullmatch(r"[!-~]+", value):
        raise InvalidElementString(N_("AI ({ai}) contains characters GS1 does not allow"), ai=ai.code)


def _lookup(data: str, at: int) -> AI:
    for size in (2, 3, 4):
        ai = AIS.get(data[at : at + size])
        if ai is not None:
            return ai
    raise InvalidElementString(N_("Unknown GS1 application identifier at “{rest}”"), rest=data[at : at + 8])


def parse(scan: str) -> ElementString:
    """Parse what a scanner typed (or the parenthesised human-readable form) into AIs."""
    text = scan.strip("\r\n ")
    for prefix in SYMBOLOGY_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    text = text.lstrip(GS)
    if not text:
        raise InvalidElementString(N_("The scan is empty"))
    result = ElementString()
    if text.startswith("("):
        matched = _PARENTHESISED.findall(text)
        if "".join(f"({a}){v}" for a, v in matched) != text:
            raise InvalidElementString(N_("“{scan}” is not a GS1 element string"), scan=scan)
        for code, value in matched:
            ai = AIS.get(code)
            if ai is None:
                raise InvalidElementString(
                    N_("Unknown GS1 application identifier at “{rest}”"), rest=f"({code})"
                )
            _check(ai, value)
            result.elements.append((code, value))
        return result
    at = 0
    while at < len(text):
        ai = _lookup(text, at)
        start = at + len(ai.code)
        if ai.fixed:
            end = start + ai.length
            value = text[start:end]
            at = end + (1 if text[end : end + 1] == GS else 0)
        else:
            stop = text.find(GS, start)
            end = len(text) if stop < 0 else stop
            value = text[start:end]
            at = end + 1
        _check(ai, value)
        result.elements.append((ai.code, value))
    return result


# --- serialization (issue 10 item 1: GS1 path of NMPAB/T 1002, SH-6.2.5.1) ------------------------------------
#
# A GS1 serialized item is (GTIN, serial): AI (01) and AI (21). Its **canonical stored value** is the element
# string of those two AIs in that order, without FNC1: ``01<GTIN-14>21<serial>``. No separator is needed (AI 01 is
# fixed-length and the serial comes last), the value is what a scanner sends for the two keys, it is unique per
# item and it sorts by product. Batch (10) and expiry (17) are data *about* the item, added when it is printed
# (:func:`item_element_string`, :func:`digital_link`), not part of its identity.

GTIN_LENGTH = 14
SERIAL_MAX = 20  # AI (21): up to 20 characters
# Serials drawn from a cryptographic generator (``secrets``). The alphanumeric set is the letters and digits of
# GS1's character set 82: no punctuation, so a serial needs no percent-encoding in a Digital Link URI.
SERIAL_ALPHABETS = {
    "alphanumeric": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "digits": "0123456789",
}
# Sparseness: at most one possible serial in 10,000 is ever used for a GTIN, so a counterfeiter cannot guess a
# valid one (the randomisation the EU FMD and GS1's healthcare guideline ask for).
SPARSENESS = 10_000
DIGITAL_LINK_DOMAIN = "https://id.gs1.org"


def validate_gtin(gtin: str) -> str:
    """A GTIN-14: 14 digits with a correct mod-10 check digit, or refused."""
    value = gtin.strip()
    if len(value) != GTIN_LENGTH or not value.isdigit():
        raise InvalidElementString(N_("{gtin} is not a GTIN-14: a GTIN-14 has 14 digits"), gtin=value[:40])
    if not valid_check_digit(value):
        raise InvalidElementString(
            N_("The check digit of GTIN {gtin} is wrong: it should be {digit}"),
            gtin=value, digit=check_digit(value[:-1]),
        )  # fmt: skip
    return value


def validate_serial(serial: str) -> str:
    """A serial for AI (21): 1 to 20 characters of GS1's character set."""
    _check(AIS["21"], serial)
    return serial


def random_serials(count: int, *, length: int = 12, alphabet: str = "alphanumeric") -> list[str]:
    """``count`` distinct serials, random and non-sequential (``secrets``), ``length`` characters of ``alphabet``.

    Refused when the serial space is not sparse enough for ``count`` (:data:`SPARSENESS`): raise the length.
    """
    import secrets

    symbols = SERIAL_ALPHABETS.get(alphabet)
    if symbols is None:
        raise ValueError(alphabet)
    if not 1 <= length <= SERIAL_MAX:
        raise InvalidElementString(N_("A serial has 1 to 20 characters"))
    if count < 1:
        raise InvalidElementString(N_("Ask for at least one serial"))
    if count * SPARSENESS > len(symbols) ** length:
        raise InvalidElementString(
            N_("{count} serials of {length} characters would be guessable: make them longer"),
            count=count, length=length,
        )  # fmt: skip
    found: dict[str, None] = {}  # insertion order: the order drawn
    while len(found) < count:
        found.setdefault("".join(secrets.choice(symbols) for _ in range(length)))
    return list(found)


def serialized_value(gtin: str, serial: str) -> str:
    """The canonical stored value of a GS1 serialized item: ``01<GTIN>21<serial>`` (see above)."""
    return f"01{validate_gtin(gtin)}21{validate_serial(serial)}"


def split_serialized(value: str) -> tuple[str, str] | None:
    """``(GTIN, serial)`` of a canonical value, or ``None`` when ``value`` is not one."""
    if len(value) < 19 or not value.startswith("01") or value[16:18] != "21":
        return None
    gtin, serial = value[2:16], value[18:]
    if not gtin.isdigit() or not valid_check_digit(gtin) or len(serial) > SERIAL_MAX:
        return None
    return gtin, serial


def _date(value: date) -> str:
    return value.strftime("%y%m%d")


def item_elements(
    gtin: str, serial: str, batch: str | None = None, expiry: date | None = None
) -> ElementString:
    """The AIs printed on a serialized pack, in the usual pharmaceutical order (01)(17)(10)(21): the fixed-length
    ones first, so only the batch needs a separator."""
    elements = [("01", validate_gtin(gtin))]
    if expiry is not None:
        elements.append(("17", _date(expiry)))
    if batch:
        _check(AIS["10"], batch)
        elements.append(("10", batch))
    elements.append(("21", validate_serial(serial)))
    return ElementString(elements)


def item_element_string(gtin: str, serial: str, batch: str | None = None, expiry: date | None = None) -> str:
    """The element string a GS1 DataMatrix encodes (after its leading FNC1), GS after a variable-length value."""
    return item_elements(gtin, serial, batch, expiry).element_string()


def digital_link(
    gtin: str, serial: str, batch: str | None = None, expiry: date | None = None, *,
    domain: str = DIGITAL_LINK_DOMAIN,
) -> str:  # fmt: skip
    """The GS1 Digital Link URI of a serialized item: ``<domain>/01/<GTIN>[/10/<batch>]/21/<serial>[?17=YYMMDD]``
    (GS1 Digital Link standard 1.2: key qualifiers in the path in the order 10 then 21, data attributes in the
    query)."""
    from urllib.parse import quote

    elements = item_elements(gtin, serial, batch, expiry)
    path = f"/01/{elements.gtin}"
    if elements.batch:
        path += f"/10/{quote(elements.batch, safe='')}"
    path += f"/21/{quote(serial, safe='')}"
    query = f"?17={elements.get('17')}" if expiry is not None else ""
    return domain.rstrip("/") + path + query


def parse_digital_link(uri: str) -> ElementString:
    """The AIs of a GS1 Digital Link URI (what a phone reads from a QR code): path pairs and the query's AIs."""
    from urllib.parse import parse_qsl, unquote, urlsplit

    parts = urlsplit(uri.strip())
    segments = [unquote(s) for s in parts.path.split("/") if s]
    try:
        start = segments.index("01")
    except ValueError:
        raise InvalidElementString(N_("“{scan}” is not a GS1 Digital Link"), scan=uri[:80]) from None
    pairs = segments[start:]
    if len(pairs) % 2:
        raise InvalidElementString(N_("“{scan}” is not a GS1 Digital Link"), scan=uri[:80])
    result = ElementString()
    found = [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
    found += [(k, v) for k, v in parse_qsl(parts.query) if k in AIS]
    for code, value in found:
        ai = AIS.get(code)
        if ai is None:
            raise InvalidElementString(N_("Unknown GS1 application identifier at “{rest}”"), rest=f"/{code}/")
        _check(ai, value)
        result.elements.append((code, value))
    return result
