"""Exports of the audit trail: CSV in the TJ-B.2.5 fields, and a printable PDF with an embedded Chinese font.

Every export and print is itself an audit event (``audit.export``, SH-7.1.3.e), written in the same unit
of work that read the entries: no file leaves without its record.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.audit_trail import service
from pharmatrace.kernel.audit_trail.service import TrailFilter
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import N_, ValidationFailed
from pharmatrace.kernel.pdf import page_sized_rows, report_pdf
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

Format = Literal["csv", "pdf", "json"]
# json: the TJ-B.2.5 data set (short names CZDX…XZ, date-times YYYYMMDDThhmmss) for other systems
FORMATS: tuple[Format, ...] = ("csv", "pdf", "json")
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


def render_exchange(entries: Iterable[AuditEntry]) -> bytes:
    """The TJ-B.2.5 data set: one record per entry under the guide's short names (TJ-B.1.3, B.1.5)."""
    from pharmatrace.exchange.datasets import AUDIT_TRAIL

    document = {
        "dataset": AUDIT_TRAIL.clause,
        "title": AUDIT_TRAIL.title,
        "records": AUDIT_TRAIL.records(entries),
    }
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


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
    from fpdf.fonts import FontFace

    title = translate(N_("Audit trail report"))
    printed = translate(N_("Printed by {name} at {time} (Beijing time)")).format(
        name=operator_name(printed_by), time=clock.format_beijing(printed_at)
    )
    pdf = report_pdf(
        header=f"{translate(N_('PharmaTrace'))} · {title}", footer=printed, title=title,
        page_label=translate(N_("Page {page} of {pages}")), author=operator_name(printed_by),
    )  # fmt: skip
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
            for row in page_sized_rows(pdf, cells, COLUMN_WIDTHS, LINE_HEIGHT, ROW_LINES):
                table.row(row)
    return bytes(pdf.output())


def operator_name(actor: Actor) -> str:
    return actor.login if actor.full_name == actor.login else f"{actor.full_name} ({actor.login})"


# --- the export command ----------------------------------------------------------------------------


def export_trail(db: Database, actor: Actor, f: TrailFilter, fmt: str, *, translate: Translate) -> ExportFile:
    """Read the entries, render them, and record the export, all in one unit of work (SH-7.1.3.e)."""
    if fmt not in FORMATS:
        raise ValidationFailed(N_("The export format must be “csv”, “pdf” or “json”"))
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
        elif fmt == "json":
            content = render_exchange(rows)
            media_type = "application/json"
        else:
            content = render_csv(rows)
            media_type = "text/csv; charset=utf-8"
        service.record_export(uow, f, fmt, len(rows))
        uow.commit()
    return ExportFile(content, media_type, f"audit-trail-{stamp}.{fmt}", len(rows))
