"""The batch record as PDF (TJ-6.4.3.5): fpdf2 with the embedded Chinese font, PDF/A-2B.

The document is produced under fpdf2's PDF/A-2B compliance mode (``enforce_compliance``): the fonts are
embedded, an sRGB output intent is included and the XMP metadata stream (``pdfaid:part=2``,
``conformance=B``, title, author, creation date) is written with the document information dictionary.
It has not been run through an external validator (veraPDF); see the module's tests for what is checked.

Reading the text back: Noto Sans CJK has CFF outlines, so fpdf2 embeds a CIDFontType0 subset that keeps the
font's own CIDs and writes the code → CID map as an embedded CMap in the Type0 font's ``/Encoding`` (valid PDF;
the ``/ToUnicode`` map is complete). PDFium, Acrobat and pdf.js read it; pypdf (7.1) does not parse an embedded
encoding CMap and reads one byte per code, so once a subset holds more than 256 glyphs its letters come out as
other glyphs. Tests read the text with PDFium (``pypdfium2``); see docs/guide/mes-batch-record.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.pdf import page_sized_rows, report_pdf
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import ebr, execution
from pharmatrace.mes.ebr import (
    CLEARANCE_PHASE_LABELS,
    SIGNATURE_STATES,
    BatchRecord,
    SignatureLine,
    Translate,
    meaning_label,
)
from pharmatrace.mes.recipe_views import STEP_LABELS
from pharmatrace.mes.review import KIND_LABELS, STATUS_LABELS
from pharmatrace.mes.review_schemas import ReviewItemPublic
from pharmatrace.storage.engine import Database

LINE = 4.2
ROW_LINES = 28
WIDTH = 277  # A4 landscape less 10 mm margins


def _signature_text(sig: SignatureLine, translate: Translate) -> str:
    meaning = translate(meaning_label(sig.meaning)) if sig.meaning else "—"
    state = translate(SIGNATURE_STATES.get(sig.status, N_("not signed")))
    role = translate(execution.SIGNOFF_ROLE_LABELS.get(sig.role, N_("Reviewed")))
    text = f"{role}: {sig.signer_name} ({sig.signer_login}) — {meaning} — {clock.format_beijing(sig.signed_at)} — {state}"
    return f"{text} — {sig.comment}" if sig.comment else text


def item_text(item: ReviewItemPublic, translate: Translate) -> str:
    """An exception's description in the reader's language (its msgid translated, then its params)."""
    if item.exception_id is None and item.kind not in ("late_signature", "alarm"):
        return item.message  # a refusal's recorded reason (English, as stored in the trail)
    params = dict(item.params)
    if item.kind == "late_signature":
        params["role"] = translate(
            execution.SIGNOFF_ROLE_LABELS.get(str(params.get("role")), str(params.get("role")))
        )
    try:
        return translate(item.msgid).format(**params)
    except (KeyError, IndexError, ValueError):
        return item.message


def render_pdf(record: BatchRecord, *, printed_by: str, printed_at: datetime, translate: Translate) -> bytes:
    """The complete batch record; every page carries the batch number and "page x of y"."""

    title = f"{translate(N_('Batch record'))} {record.batch_no} · {record.product_name}"
    printed = translate(N_("Printed by {name} at {time} (Beijing time)")).format(
        name=printed_by, time=clock.format_beijing(printed_at)
    )
    pdf = report_pdf(
        header=f"{translate(N_('PharmaTrace'))} · {title}", footer=printed, title=title,
        page_label=translate(N_("Page {page} of {pages}")), author=printed_by, pdfa=True,
    )  # fmt: skip
    pdf.set_subject(translate(N_("Electronic batch record")))
    pdf.set_keywords(f"{record.batch_no} {record.order_no} {record.product_code}")
    pdf.set_creation_date(printed_at)
    pdf.set_lang("zh-CN")
    pdf.add_page()

    def h1(text: str) -> None:
        pdf.set_font("cjk", size=15)
        pdf.multi_cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")

    def h2(text: str) -> None:
        pdf.ln(2)
        pdf.set_font("cjk", size=11.5)
        pdf.multi_cell(0, 6.5, text, new_x="LMARGIN", new_y="NEXT")

    def line(text: str, size: float = 8.5) -> None:
        pdf.set_font("cjk", size=size)
        if "\n" not in text and pdf.get_string_width(text) <= WIDTH - 2:  # the common case, without wrapping
            pdf.cell(0, LINE, text, new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.multi_cell(0, LINE, text, new_x="LMARGIN", new_y="NEXT", align="L")

    def row(cells: list[str], widths: tuple[float, ...], *, fill: bool = False) -> None:
        """One table row drawn cell by cell: one line when every cell fits, else wrapped (nothing cut).

        fpdf2's ``table()`` lays out every cell with the full line breaker, which costs seconds on a batch
        of 5,000 values; most cells here are short and take a plain ``cell``."""
        fits = all(pdf.get_string_width(text) <= width - 2 for text, width in zip(cells, widths, strict=True))
        if fits:
            if pdf.will_page_break(LINE):
                pdf.add_page()
            for text, width in zip(cells, widths, strict=True):
                pdf.cell(width, LINE, text, border=1, fill=fill)
            pdf.ln(LINE)
            return
        for block in page_sized_rows(pdf, cells, widths, LINE, ROW_LINES):
            lines = [
                len(cast(list[str], pdf.multi_cell(width - 2, LINE, text, dry_run=True, output="LINES")))
                if text
                else 1
                for text, width in zip(block, widths, strict=True)
            ]
            height = max(lines) * LINE
            if pdf.will_page_break(height):
                pdf.add_page()
            top, x = pdf.get_y(), pdf.l_margin
            for text, width in zip(block, widths, strict=True):
                pdf.rect(x, top, width, height, style="DF" if fill else "D")
                pdf.set_xy(x + 1, top)
                pdf.multi_cell(width - 2, LINE, text, new_x="RIGHT", new_y="TOP", align="L")
                x += width
            pdf.set_xy(pdf.l_margin, top + height)

    def table(headings: list[str], rows: list[list[str]], widths: tuple[float, ...]) -> None:
        pdf.set_font("cjk", size=7.5)
        pdf.set_fill_color(230, 236, 242)
        if pdf.will_page_break(LINE * 2):
            pdf.add_page()
        row(headings, widths, fill=True)
        for cells in rows:
            if pdf.will_page_break(LINE):  # the headings again on top of each page
                pdf.add_page()
                row(headings, widths, fill=True)
            row(cells, widths)

    h1(title)
    for label, value in record.header:
        line(f"{translate(label)}: {value}", 9)
    line(f"{translate(N_('Status'))}: {translate(execution.ORDER_STATUS_LABELS[record.status])}", 9)
    line(printed, 8)

    h2(translate(N_("Signatures of the order")))
    for sig in record.signatures:
        line(_signature_text(sig, translate))
    if not record.signatures:
        line(translate(N_("Not signed")))

    h2(translate(N_("Steps")))
    line(translate(N_("Limits: T target · A alert limits · L action limits")), 8)
    for step in record.steps:
        pdf.set_font("cjk", size=10)
        pdf.ln(1.5)
        phase = (
            f" · {translate(CLEARANCE_PHASE_LABELS[step.clearance_phase])}" if step.clearance_phase else ""
        )
        pdf.multi_cell(0, 5.5, f"{step.seq}. {step.code} {step.name} · {translate(STEP_LABELS.get(step.type, step.type))}"
                       f"{phase} · {translate(execution.STEP_STATE_LABELS.get(step.state, step.state))}",
                       new_x="LMARGIN", new_y="NEXT")  # fmt: skip
        line(f"{translate(N_('Unit procedure'))}: {step.unit} · {translate(N_('Operation'))}: {step.operation} · "
             f"{translate(N_('Room'))}: {step.room or '—'} · {translate(N_('Equipment'))}: {step.equipment_classes or '—'}"
             f" · SOP: {step.sop or '—'}")  # fmt: skip
        line(f"{translate(N_('Started'))}: {step.started or '—'} · {translate(N_('Completed'))}: {step.completed or '—'}"
             f" · {translate(N_('Performed by'))}: {step.performed_by or '—'} · {translate(N_('Verified by'))}: "
             f"{step.verified_by or '—'} · SM3 {step.record_sm3[:16] or '—'}")  # fmt: skip
        if step.values:
            table([translate(h) for h in (N_("Parameter"), N_("Value"), N_("Unit"), N_("Limits"), N_("Flag"), N_("Comment"))],
                  [[f"{v.name} ({v.code})", v.value, v.unit, v.limits, v.flag, v.comment] for v in step.values],
                  (60, 35, 25, 70, 20, 67))  # fmt: skip
        for name, text in step.facts:
            line(f"{name}: {text}", 7.5)
        for sig in step.signatures:
            line(_signature_text(sig, translate), 8)

    h2(translate(N_("Exceptions")))
    if record.exceptions:
        table([translate(h) for h in (N_("Time"), N_("Step"), N_("Kind"), N_("Description"), N_("Status"), N_("Explanation"))],
              [[clock.format_beijing(e.at), e.step_code, translate(KIND_LABELS.get(e.kind, e.kind)), item_text(e, translate),
                translate(STATUS_LABELS.get(e.status, e.status)) + (f" {e.deviation_number}" if e.deviation_number else ""),
                e.explanation + (f" ({e.decided_by})" if e.decided_by else "")] for e in record.exceptions],
              (30, 22, 35, 95, 30, 65))  # fmt: skip
    else:
        line(translate(N_("No entries")))

    for t in record.tables:
        h2(translate(t.title))
        if not t.rows:
            line(translate(N_("No entries")))
            continue
        count = len(t.headings)
        widths = tuple(WIDTH / count for _ in range(count))
        table([translate(h) for h in t.headings], t.rows, widths)
    line(translate(N_("Audit entries of this batch: {count}")).format(count=record.trail_total), 8)
    return bytes(pdf.output())


def export_record_pdf(
    db: Database, principal: Principal, order_no: str, *, translate: Translate
) -> tuple[bytes, str]:
    """Read, render and record the export (``ebr.export``, format ``pdf``) in one unit of work: no file leaves
    without its audit entry (TJ-6.4.3.5). Returns the PDF and its file name."""
    with UnitOfWork(db, principal.actor) as uow:
        record = ebr.read_record(uow, order_no, "pdf")
        moment = clock.now()
        name = principal.full_name
        printer = principal.login if name == principal.login else f"{name} ({principal.login})"
        content = render_pdf(record, printed_by=printer, printed_at=moment, translate=translate)
        uow.commit()
    return content, f"batch-record-{record.batch_no}-{clock.format_exchange(moment)}.pdf"
