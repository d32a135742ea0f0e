"""Instrument data files kept as raw data, and what is read from them (TJ-7.3, TJ-10.1.3.3, TJ-10.1.3.4.b).

An instrument's export is stored as it came, in the SM3-addressed file store (``<state dir>/lims-raw/``); the
result keeps the file's SM3 and each value read from it. Opening the file later hashes it again: a file that was
changed, truncated or removed is refused, never shown (:func:`open_file`).

Three CSV formats, each a few ``key,value`` header lines, then a table whose first row names its columns
(UTF-8, with or without BOM, or GB 18030 as Chinese instrument software writes it):

* ``balance_csv`` — an analytical balance's weighings (``Balance,BAL-QC-01`` …, then ``ID,Net,Unit[,Stable]``).
  Each row is one weighing; its ID is the raw input it is for (``W_s``, ``W_r``). An unstable reading is refused.
* ``ph_csv`` — a pH meter's readings (``Instrument,PH-01`` …, then ``Sample ID,pH[,Temperature]``). The reading
  for the sample (its code in ``Sample ID``), or the only reading of the file, is the result.
* ``hplc_csv`` — an HPLC summary report of the external-standard method (``Instrument,HPLC-01``,
  ``Processing Method,…``, ``Processing Version,…``, ``Integration,…``, then
  ``Injection,Sample Type,Sample Name,Peak Name,RT,Area``). The peak areas of the reference injections give
  ``A_r`` and those of the sample injections ``A_s``, each the mean of its injections (written down as such).

Values are converted to the unit the formula's input is stated in (g, mg, µg, kg) so the calculation uses one
system of units (TJ-10.1.3.4.b); a unit that cannot be converted is refused.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pharmatrace.kernel import filestore
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.storage.engine import Database

CSV = "text/csv"
FORMATS = ("balance_csv", "ph_csv", "hplc_csv")
FORMAT_LABELS = {
    "balance_csv": N_("Balance export (CSV)"),
    "ph_csv": N_("pH meter export (CSV)"),
    "hplc_csv": N_("HPLC summary report (CSV)"),
}
MAX_BYTES = 2 * 1024 * 1024
# Mass units and their size in milligrams: the only conversions made (TJ-10.1.3.4.b).
MASS_IN_MG = {"kg": Decimal("1000000"), "g": Decimal("1000"), "mg": Decimal("1"), "µg": Decimal("0.001"),
              "ug": Decimal("0.001")}  # fmt: skip
UNSTABLE = {"no", "n", "0", "false", "unstable", "否", "不稳定"}


class RawFileRefused(filestore.UnsupportedFile):
    """A data file that is not what it claims, or whose content cannot be read as its format."""

    code = "raw_file_refused"


class RawFileTampered(filestore.StoredFileTampered):
    """A kept instrument file that no longer matches its SM3 hash (changed, truncated) or is gone."""

    code = "raw_file_tampered"


class CsvStore(filestore.FileStore):
    """The laboratory's raw-data store: CSV text only, checked by decoding, not by the name it came with."""

    def check(self, data: bytes, file_name: str) -> filestore.StoredFile:
        if not data:
            raise self.refused(N_("The file is empty"))
        if len(data) > self.max_bytes:
            raise self.refused(N_("The file is {size} bytes; at most {limit} bytes are accepted"),
                               size=len(data), limit=self.max_bytes)  # fmt: skip
        decode(data, file_name)
        return filestore.StoredFile(filestore.sm3_hex(data), len(data), CSV, _csv_name(file_name))


STORE = CsvStore(
    area="lims-raw",
    accepted=(CSV,),
    max_bytes=MAX_BYTES,
    refused_message=N_("“{name}” is not a CSV text file"),
    tampered=RawFileTampered,
    refused=RawFileRefused,
    default_name="data",
)


def _csv_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")).strip()
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*').strip(". ")
    return (os.path.splitext(base)[0][:150] or "data") + ".csv"


def decode(data: bytes, file_name: str = "") -> str:
    """The text of a CSV file: UTF-8 (a BOM is dropped) or GB 18030; binary content is refused."""
    if b"\x00" in data:
        raise RawFileRefused(N_("“{name}” is not a CSV text file"), name=file_name[:100])
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RawFileRefused(N_("“{name}” is not a CSV text file"), name=file_name[:100])


# --- what a file gives -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    """One value read from a file: the name it is for, the number, its unit, how it was obtained."""

    name: str
    value: Decimal
    unit: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Parsed:
    """What a file says: its ``key,value`` header, the instrument it names, the values it gives, the rows."""

    format: str
    header: dict[str, str]
    instrument: str
    values: tuple[Value, ...]
    rows: tuple[dict[str, str], ...] = field(default=())

    def processing(self) -> dict[str, str]:
        """The processing method and parameters the file states (an HPLC report's), for the result version."""
        keys = ("Processing Method", "Processing Version", "Integration", "Method")
        return {k: self.header[k] for k in keys if self.header.get(k)}

    def stored(self) -> dict[str, Any]:
        """As kept with the file record: JSON-safe, numbers as text."""
        return {
            "format": self.format, "header": self.header, "instrument": self.instrument,
            "values": [{"name": v.name, "value": plain_number(v.value), "unit": v.unit, "detail": v.detail}
                       for v in self.values],
            "rows": list(self.rows),
        }  # fmt: skip


def _number(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text.strip().replace(",", ""))
    except InvalidOperation:
        raise RawFileRefused(N_("{what}: “{text}” is not a number"), what=what, text=text[:40]) from None
    if not value.is_finite():
        raise RawFileRefused(N_("{what}: “{text}” is not a number"), what=what, text=text[:40])
    return value


def _table(text: str, required: Iterable[str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The ``key,value`` header lines, then the rows of the table whose first row holds ``required``."""
    wanted = [r.lower() for r in required]
    header: dict[str, str] = {}
    columns: list[str] | None = None
    rows: list[dict[str, str]] = []
    for line in csv.reader(io.StringIO(text)):
        cells = [c.strip() for c in line]
        if not any(cells):
            continue
        if columns is None:
            if all(w in [c.lower() for c in cells] for w in wanted):
                columns = cells
            elif len(cells) >= 2 and cells[0]:
                header[cells[0]] = cells[1]
            continue
        rows.append({columns[i]: (cells[i] if i < len(cells) else "") for i in range(len(columns))})
    if columns is None:
        raise RawFileRefused(N_("The file has no table with the columns {columns}"),
                             columns=", ".join(required))  # fmt: skip
    if not rows:
        raise RawFileRefused(N_("The file's table has no rows"))
    return header, rows


def _cell(row: Mapping[str, str], name: str) -> str:
    for key, value in row.items():
        if key.lower() == name.lower():
            return value
    return ""


def _instrument(header: Mapping[str, str], *keys: str) -> str:
    for key in keys:
        for name, value in header.items():
            if name.lower() == key.lower() and value:
                return value.strip().upper()
    return ""


def parse_balance(text: str) -> Parsed:
    header, rows = _table(text, ("ID", "Net", "Unit"))
    values: list[Value] = []
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        name = _cell(row, "ID")
        if not name:
            raise RawFileRefused(N_("Row {row} of the balance file has no ID"), row=number)
        if _cell(row, "Stable").strip().lower() in UNSTABLE and _cell(row, "Stable").strip():
            raise RawFileRefused(N_("The weighing {name} was not stable: it cannot be used"), name=name)
        if name in seen:
            raise RawFileRefused(N_("The balance file has two weighings with the ID {name}"), name=name)
        seen.add(name)
        values.append(Value(name, _number(_cell(row, "Net"), name), _cell(row, "Unit"),
                            f"{_cell(row, 'Date')} {_cell(row, 'Time')}".strip()))  # fmt: skip
    return Parsed(
        "balance_csv", header, _instrument(header, "Balance", "Instrument"), tuple(values), tuple(rows)
    )


def parse_ph(text: str, sample_code: str = "") -> Parsed:
    header, rows = _table(text, ("Sample ID", "pH"))
    mine = [r for r in rows if _cell(r, "Sample ID").upper() == sample_code.upper()] if sample_code else []
    chosen = mine or (rows if len(rows) == 1 else [])
    if len(chosen) != 1:
        raise RawFileRefused(
            N_("The pH file has {count} readings for the sample {code}: export the one reading of this test"),
            count=len(mine), code=sample_code,
        )  # fmt: skip
    row = chosen[0]
    detail = " ".join(f"{k} {v}" for k, v in row.items() if v and k.lower() not in ("ph",))
    value = Value("pH", _number(_cell(row, "pH"), "pH"), "", detail[:200])
    return Parsed("ph_csv", header, _instrument(header, "Instrument", "Meter"), (value,), tuple(rows))


def _mean(areas: list[Decimal]) -> Decimal:
    return sum(areas, Decimal(0)) / len(areas)


def parse_hplc(text: str, peak: str = "") -> Parsed:
    header, rows = _table(text, ("Sample Type", "Peak Name", "Area"))
    peaks = sorted({_cell(r, "Peak Name") for r in rows if _cell(r, "Peak Name")})
    name = peak or (peaks[0] if len(peaks) == 1 else "")
    if not name or name not in peaks:
        raise RawFileRefused(
            N_("Name the peak to read: the report has {peaks}"), peaks=", ".join(peaks) or "—"
        )
    kinds: dict[str, list[Decimal]] = {"standard": [], "sample": []}
    for row in rows:
        if _cell(row, "Peak Name") != name:
            continue
        kind = _cell(row, "Sample Type").lower()
        if kind in ("standard", "std", "对照品", "reference"):
            kinds["standard"].append(_number(_cell(row, "Area"), "Area"))
        elif kind in ("sample", "unknown", "供试品"):
            kinds["sample"].append(_number(_cell(row, "Area"), "Area"))
    if not kinds["standard"] or not kinds["sample"]:
        raise RawFileRefused(
            N_("The report needs reference and sample injections of the peak {peak}"), peak=name
        )
    values = (
        Value(
            "A_r",
            _mean(kinds["standard"]),
            "",
            f"{name}: mean of {len(kinds['standard'])} reference injections",
        ),
        Value("A_s", _mean(kinds["sample"]), "", f"{name}: mean of {len(kinds['sample'])} sample injections"),
    )
    return Parsed("hplc_csv", header, _instrument(header, "Instrument", "System"), values, tuple(rows))


def parse(fmt: str, data: bytes, *, sample_code: str = "", peak: str = "") -> Parsed:
    """Read a file of format ``fmt``; refused (naming what is wrong) when it does not read as that format."""
    text = decode(data)
    if fmt == "balance_csv":
        return parse_balance(text)
    if fmt == "ph_csv":
        return parse_ph(text, sample_code)
    if fmt == "hplc_csv":
        return parse_hplc(text, peak)
    raise RawFileRefused(N_("There is no file format {format}"), format=fmt)


def convert(value: Decimal, unit: str, wanted: str, name: str) -> Decimal:
    """``value`` in ``unit`` expressed in ``wanted`` (mass units only); equal or empty units pass unchanged."""
    if not unit or not wanted or unit == wanted:
        return value
    if unit in MASS_IN_MG and wanted in MASS_IN_MG:
        return value * MASS_IN_MG[unit] / MASS_IN_MG[wanted]
    raise ValidationFailed(N_("{name} is in {unit} in the file, but the formula needs {wanted}"), name=name,
                           unit=unit, wanted=wanted)  # fmt: skip


# --- keeping and opening -------------------------------------------------------------------------------------


def keep(db: Database, data: bytes, file_name: str) -> filestore.StoredFile:
    """Store the file as it came (idempotent: the same bytes are kept once)."""
    return STORE.put(db, data, file_name)


def open_file(db: Database, sm3: str) -> bytes:
    """The kept bytes, hashed again first: a changed or missing file is refused (:class:`RawFileTampered`)."""
    return STORE.read(db, sm3)
