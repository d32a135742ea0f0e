"""Exports of the audit trail: CSV in the TJ-B.2.5 fields, and a printable PDF with an embedded Chinese font.

Every export and print is itself an audit event (``audit.export``, SH-7.1.3.e), written in the same unit
of work that read the entries: no file leaves without its record.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail import service
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, PharmaTraceError, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

Format = Literal["csv", "pdf"]
FORMATS: tuple[Format, ...] = ("csv", "pdf")
Translate = Callable[[str], str]

# Laying out a PDF costs about 20 ms per entry, and nobody reads thousands of pages: beyond this, narrow
# the filter or export CSV.
PDF_LIMIT = 2000
EMPTY = "∅"
# The PDF table: A4 landscape less 10 mm margins is 277 mm; 30 lines of 4 mm fit on any page.
COLUMN_WIDTHS = (12, 29, 38, 22, 34, 50, 92)
LINE_HEIGHT = 4
ROW_LINES = 30

# TJ-B.2.5 (表 B.18): Chinese names and exchange short names. One CSV row per changed field, so the
# entry number and the field name are added to tell the rows of one entry apart.
CSV_HEADER = (
    "记录号",
    "操作对象(CZDX)",
    "操作类型(CZLX)",
    "操作者(CZZ)",
    "操作时间(CZSJ)",
    "操作原因(CZYY)",
    "字段",
    "旧值(JZ)",
    "新值(XZ)",
)

FONT_ENV = "PHARMATRACE_PDF_FONT"
# Chinese fonts the PDF can embed, by Debian package (then other distributions), with the face number in
# the collection: Noto Sans CJK's face 2 is Simplified Chinese. ``PHARMATRACE_PDF_FONT=path[#face]`` wins.
KNOWN_FONTS: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # fonts-noto-cjk
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),  # fonts-wqy-microhei
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),  # fonts-wqy-zenhei
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),  # fonts-arphic-uming
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
)


class PdfFontMissing(PharmaTraceError):
    """No Chinese font to embed: the PDF would print boxes instead of Chinese text."""

    code = "pdf_font_missing"
    http_status = 503


@dataclass(frozen=True, slots=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str
    entries: int


# --- values ----------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _pairs(changes: dict[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """``{field: [old, new]}`` → (field, old, new); a value that is not a pair counts as new."""
    for key, value in changes.items():
        if isinstance(value, list | tuple) and len(value) == 2:
            yield key, value[0], value[1]
        else:
            yield key, None, value


def operator(entry: AuditEntry) -> str:
    """CZZ: the full name at the time, with the log-in ID (system actors have only the latter)."""
    if entry.actor_name == entry.actor_login:
        return entry.actor_login
    return f"{entry.actor_name} ({entry.actor_login})"


def object_key(entry: AuditEntry) -> str:
    """CZDX: the record type and its key."""
    return f"{entry.object_type}:{entry.object_id}"


# --- CSV -------------------------------------------------------------------------------------------


def render_csv(entries: Iterable[AuditEntry]) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Chinese), one row per changed field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for entry in entries:
        head = [
            str(entry.id),
            object_key(entry),
            entry.event,
            operator(entry),
            clock.format_beijing(entry.at),
            entry.reason or "",
        ]
        changed = list(_pairs(entry.changes or {}))
        if not changed:
            writer.writerow([*head, "", "", ""])
        for key, old, new in changed:
            writer.writerow([*head, key, _text(old), _text(new)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# --- PDF -------------------------------------------------------------------------------------------


def pdf_font() -> tuple[Path, int]:
    """The Chinese font file to embed and its face number, or a clear error when none is installed."""
    override = os.environ.get(FONT_ENV, "").strip()
    if override:
        name, _, number = override.partition("#")
        if not Path(name).is_file() or not (number == "" or number.isdigit()):
            raise PdfFontMissing(
                N_("The PDF font “{path}” set in PHARMATRACE_PDF_FONT does not exist"), path=name
            )
        return Path(name), int(number or 0)
    for path, face in KNOWN_FONTS:
        if Path(path).is_file():
            return Path(path), face
    raise PdfFontMissing(
        N_(
            "No Chinese font for PDF reports is installed. Install the Debian package fonts-noto-cjk, "
            "or set PHARMATRACE_PDF_FONT to a TrueType or OpenType font file."
        )
    )


def _changes_text(entry: AuditEntry) -> str:
    lines = []
    for key, old, new in _pairs(entry.changes or {}):
        before = EMPTY if old is None else _text(old)
        after = EMPTY if new is None else _text(new)
        lines.append(f"{key}: {before} → {after}")
    return "\n".join(lines)


def _filter_text(f: TrailFilter, translate: Translate) -> str:
    labels = service.FILTER_LABELS
    shown = []
    for name, value in f.params().items():
        if name == "parts":
            shown.append(translate(labels["parts"]))
        else:
            shown.append(f"{translate(labels[name])}: {value}")
    return "; ".join(shown) if shown else translate(N_("none (the whole trail)"))


def render_pdf(
    entries: list[AuditEntry],
    f: TrailFilter,
    *,
    printed_by: Actor,
    printed_at: datetime,
    translate: Translate,
    signatures: list[Any] | None = None,
) -> bytes:
    """A printable report: title, filter, who printed it and when, "page x of y", and the entries."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    font_path, face = pdf_font()
    title = translate(N_("Audit trail report"))
    printed = translate(N_("Printed by {name} at {time} (Beijing time)")).format(
        name=operator_name(printed_by), time=clock.format_beijing(printed_at)
    )
    page_label = translate(N_("Page {page} of {pages}"))

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("cjk", size=8)
            self.set_text_color(95, 107, 122)
            self.cell(0, 5, f"{translate(N_('PharmaTrace'))} · {title}", align="L")
            self.ln(7)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("cjk", size=8)
            self.set_text_color(95, 107, 122)
            self.cell(0, 6, printed, align="L")
            self.set_x(self.l_margin)
            self.cell(0, 6, page_label.format(page=self.page_no(), pages="{nb}"), align="R")

    pdf = Report(orientation="L", unit="mm", format="A4")
    pdf.set_margins(10, 10, 10)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("cjk", fname=str(font_path), collection_font_number=face)
    pdf.set_title(title)
    pdf.set_author(operator_name(printed_by))
    pdf.set_creator("PharmaTrace")
    pdf.add_page()
    pdf.set_font("cjk", size=16)
    pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    facts = (
        f"{translate(N_('Filter'))}: {_filter_text(f, translate)}",
        f"{translate(N_('Order'))}: {translate(N_('oldest first') if f.order == 'asc' else N_('newest first'))}",
        f"{translate(N_('Entries'))}: {len(entries)}",
        printed,
    )
    for line in facts:
        pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    if signatures is not None:  # the record's e-signature manifestation is on every print (11.50, SH-7.1.4.b)
        from pharmatrace.kernel.esign.policy import MEANINGS

        states = {
            "valid": N_("valid"),
            "changed": N_("record changed after signing"),
            "invalid": N_("invalid"),
        }
        pdf.set_font("cjk", size=11)
        pdf.cell(0, 7, translate(N_("Electronic signatures")), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=9)
        if not signatures:
            pdf.multi_cell(0, 5, translate(N_("Not signed")), new_x="LMARGIN", new_y="NEXT")
        for sig in signatures:
            line = (f"{translate(MEANINGS[sig.meaning])} — {sig.signer_name} ({sig.signer_login}) — "
                    f"{clock.format_beijing(sig.signed_at)} — {sig.action} · {sig.step} — {translate(states[sig.status])}")  # fmt: skip
            pdf.multi_cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    headings = (
        N_("No."),
        N_("Time"),
        N_("Object"),
        N_("Operation"),
        N_("Operator"),
        N_("Reason"),
        N_("Changes (old → new)"),
    )
    pdf.set_font("cjk", size=7.5)
    with pdf.table(
        col_widths=COLUMN_WIDTHS,
        width=sum(COLUMN_WIDTHS),
        line_height=LINE_HEIGHT,
        text_align="LEFT",
        v_align="TOP",
        repeat_headings=1,
        headings_style=FontFace(emphasis="", fill_color=(230, 236, 242)),
    ) as table:
        table.row([translate(h) for h in headings])
        for entry in entries:
            cells = (
                str(entry.id),
                clock.format_beijing(entry.at),
                object_key(entry),
                entry.event,
                operator(entry),
                entry.reason or "",
                _changes_text(entry),
            )
            for row in _page_sized_rows(pdf, cells):
                table.row(row)
    return bytes(pdf.output())


def _page_sized_rows(pdf: Any, cells: tuple[str, ...]) -> list[list[str]]:
    """One table row per entry, split into continuation rows when the entry is taller than a page.

    A table row cannot break across pages, so long texts (a 500-character reason, a setting with many
    fields) are cut into blocks of ``ROW_LINES`` wrapped lines; nothing is left out of the print.
    """
    columns: list[list[str]] = []
    for text, width in zip(cells, COLUMN_WIDTHS, strict=True):
        if len(text) < 300 and text.count("\n") < ROW_LINES // 2:
            columns.append([text])
            continue
        lines = list(pdf.multi_cell(width - 2, LINE_HEIGHT, text, dry_run=True, output="LINES"))
        columns.append(["\n".join(lines[i : i + ROW_LINES]) for i in range(0, len(lines), ROW_LINES)] or [""])
    rows = []
    for block in range(max(len(column) for column in columns)):
        row = [column[block] if block < len(column) else "" for column in columns]
        if block:
            row[0] = f"{cells[0]}…"
        rows.append(row)
    return rows


def operator_name(actor: Actor) -> str:
    return actor.login if actor.full_name == actor.login else f"{actor.full_name} ({actor.login})"


# --- the export command ----------------------------------------------------------------------------


def export_trail(db: Database, actor: Actor, f: TrailFilter, fmt: str, *, translate: Translate) -> ExportFile:
    """Read the entries, render them, and record the export, all in one unit of work (SH-7.1.3.e)."""
    if fmt not in FORMATS:
        raise ValidationFailed(N_("The export format must be “csv” or “pdf”"))
    with UnitOfWork(db, actor) as uow:
        limit = PDF_LIMIT + 1 if fmt == "pdf" else None
        rows = service.entries(uow.session, f, limit=limit)
        moment = clock.now()
        stamp = clock.format_exchange(moment)
        if fmt == "pdf":
            if len(rows) > PDF_LIMIT:
                raise ValidationFailed(
                    N_("A PDF report holds at most {limit} entries: narrow the filter, or export CSV"),
                    limit=PDF_LIMIT,
                )
            signatures = None
            if f.object_type and f.object_id and "," not in f.object_type:
                from pharmatrace.kernel.esign.service import manifestations

                signatures = manifestations(uow.session, f.object_type, f.object_id)
            content = render_pdf(rows, f, printed_by=actor, printed_at=moment, translate=translate,
                                 signatures=signatures)  # fmt: skip
            media_type = "application/pdf"
        else:
            content = render_csv(rows)
            media_type = "text/csv; charset=utf-8"
        service.record_export(uow, f, fmt, len(rows))
        uow.commit()
    return ExportFile(content, media_type, f"audit-trail-{stamp}.{fmt}", len(rows))
