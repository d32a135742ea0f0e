"""The certificate of analysis as PDF (检验报告书, TJ-7.1, TJ-9.1): fpdf2 with the embedded Chinese font, PDF/A-2B.

The printed certificate shows what the frozen content says (never the live results), its SM3, and the reviewer's
signature with its verification status at the time of printing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.pdf import report_pdf, table_row, text_line
from pharmatrace.lims.certificate_schemas import CertificateDetail
from pharmatrace.lims.certificates import ANSWER_LABELS, CONCLUSION_LABELS, STATE_LABELS

Translate = Callable[..., str]
LINE = 5.0
WIDTHS = (34.0, 30.0, 50.0, 22.0, 24.0, 30.0)  # item, result, limit, verdict, analyst, reviewer: 190 mm
VERDICTS = {"pass": N_("Conforms"), "fail": N_("Does not conform")}
SIGNATURE_STATES = {
    "valid": N_("valid"),
    "changed": N_("record changed since signing"),
    "invalid": N_("invalid"),
}


def render_pdf(
    detail: CertificateDetail, *, printed_by: str, printed_at: datetime, translate: Translate
) -> bytes:
    title = f"{translate(N_('Certificate of analysis'))} {detail.code}"
    printed = translate(N_("Printed by {name} at {time} (Beijing time)")).format(
        name=printed_by, time=clock.format_beijing(printed_at)
    )
    pdf = report_pdf(
        header=f"{translate(N_('PharmaTrace'))} · {title} · {detail.material_name} {detail.lot_number}",
        footer=printed, title=title, page_label=translate(N_("Page {page} of {pages}")), author=printed_by,
        orientation="P", pdfa=True,
    )  # fmt: skip
    pdf.set_subject(translate(N_("Certificate of analysis")))
    pdf.set_keywords(f"{detail.code} {detail.lot_number} {detail.material_code} {detail.spec_code}")
    pdf.set_creation_date(printed_at)
    pdf.set_lang("zh-CN")
    pdf.add_page()

    def line(text: str, size: float = 9.5) -> None:
        text_line(pdf, text, LINE, size)

    def row(cells: list[str], *, fill: bool = False) -> None:
        table_row(pdf, cells, WIDTHS, LINE, fill=fill)

    pdf.set_font("cjk", size=16)
    pdf.cell(0, 10, translate(N_("Certificate of analysis")), align="C", new_x="LMARGIN", new_y="NEXT")
    header = [
        (N_("Certificate No."), detail.code),
        (N_("Material"), f"{detail.material_name} ({detail.material_code})"),
        (N_("Lot"), f"{detail.lot_number} · {translate(N_('supplier lot'))} {detail.supplier_lot}"),
        (N_("Supplier"), f"{detail.supplier_name} ({detail.supplier_code})"),
        (N_("Quantity"), f"{detail.quantity} {detail.unit}"),
        (N_("Manufactured / expiry"), f"{detail.manufacture_date} / {detail.expiry_date or '—'}"),
        (N_("Specification"), f"{detail.spec_code} v{detail.spec_version} {detail.spec_title}"),
        (N_("Basis"), detail.basis),
        (N_("Test orders"), "、".join(detail.orders)),
        (N_("Samples"), "、".join(detail.sample_codes)),
    ]
    if detail.origin:
        header.insert(4, (N_("Planting base"), detail.origin))
    for label, value in header:
        line(f"{translate(label)}: {value}")
    pdf.ln(2)
    pdf.set_fill_color(230, 236, 242)
    pdf.set_font("cjk", size=8.5)
    row([translate(N_("Test item")), translate(N_("Result")), translate(N_("Limit")), translate(N_("Verdict")),
         translate(N_("Analyst")), translate(N_("Reviewer"))], fill=True)  # fmt: skip
    for item in detail.lines:
        shown = translate(ANSWER_LABELS[item.result]) if item.result in ANSWER_LABELS else item.result
        verdict = translate(VERDICTS.get(item.verdict, item.verdict))
        if item.oos_case:
            verdict = f"{verdict} ({item.oos_case})"
        row([item.item, f"{shown} {item.unit}".strip(), item.limit, verdict, item.analyst_name,
             item.reviewer_name])  # fmt: skip
    pdf.ln(3)
    line(f"{translate(N_('Conclusion'))}: {translate(CONCLUSION_LABELS[detail.conclusion])}", 12)
    pdf.ln(1)
    line(f"{translate(N_('Issued by'))}: {detail.issued_by_name} ({detail.issued_by}) · "
         f"{clock.format_beijing(detail.issued_at)}")  # fmt: skip
    if detail.signoff is not None:
        state = translate(SIGNATURE_STATES.get(detail.signoff.status, detail.signoff.status))
        line(f"{translate(N_('Signed (reviewer)'))}: {detail.signoff.signed_by_name} ({detail.signoff.signed_by}) · "
             f"{clock.format_beijing(detail.signoff.signed_at)} · {translate(N_('electronic signature'))} {state}")  # fmt: skip
    else:
        line(translate(N_("Not signed")))
    line(f"{translate(N_('Status'))}: {translate(STATE_LABELS[detail.state])}")
    if detail.void_reason:
        line(f"{translate(N_('Void'))}: {detail.void_reason}")
    line(f"SM3: {detail.content_sm3}", 7.5)
    line(f"{translate(N_('Specification'))} SM3: {detail.spec_sm3}", 7.5)
    return bytes(pdf.output())
