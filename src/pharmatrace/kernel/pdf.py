"""What every printed PDF shares: the embedded Chinese font, and table rows that fit on a page."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, cast

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, PharmaTraceError

FONT_ENV = "PHARMATRACE_PDF_FONT"
GREY = (95, 107, 122)  # running header and footer
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


def page_sized_rows(
    pdf: Any, cells: Sequence[str], widths: Sequence[float], line_height: float, max_lines: int
) -> list[list[str]]:
    """One table row, split into continuation rows when it is taller than a page.

    An fpdf2 table row cannot break across pages, so long texts (a 500-character reason, a clause proven
    by forty tests) are cut into blocks of ``max_lines`` wrapped lines; nothing is left out of the print.
    Continuation rows repeat the first cell with "…".
    """
    columns: list[list[str]] = []
    for text, width in zip(cells, widths, strict=True):
        if len(text) < 300 and text.count("\n") < max_lines // 2:
            columns.append([text])
            continue
        lines = list(pdf.multi_cell(width - 2, line_height, text, dry_run=True, output="LINES"))
        columns.append(["\n".join(lines[i : i + max_lines]) for i in range(0, len(lines), max_lines)] or [""])
    rows = []
    for block in range(max(len(column) for column in columns)):
        row = [column[block] if block < len(column) else "" for column in columns]
        if block:
            row[0] = f"{cells[0]}…"
        rows.append(row)
    return rows


def report_pdf(
    *,
    header: str,
    footer: str,
    title: str,
    page_label: str = "{page} / {pages}",
    author: str | None = None,
    orientation: Literal["P", "L"] = "L",
    margin: float = 10,
    size: float = 8,
    pdfa: bool = False,
) -> Any:
    """An A4 report with the Chinese font embedded as ``cjk``: a grey running ``header``, and on every page's
    foot the ``footer`` (who printed it, when) and ``page_label`` ("page x of y"). The caller adds pages.

    ``pdfa``: fpdf2's PDF/A-2B mode (fonts embedded, sRGB output intent, XMP metadata) for archived records.
    """
    from fpdf import FPDF

    font_path, face = pdf_font()

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("cjk", size=size)
            self.set_text_color(*GREY)
            self.cell(0, size * 0.625, header, align="L")
            self.ln(size * 0.875)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("cjk", size=size)
            self.set_text_color(*GREY)
            self.cell(0, 6, footer, align="L")
            self.set_x(self.l_margin)
            self.cell(0, 6, page_label.format(page=self.page_no(), pages="{nb}"), align="R")

    pdf = (
        Report(orientation=orientation, unit="mm", format="A4", enforce_compliance="PDFA_2B")
        if pdfa
        else Report(orientation=orientation, unit="mm", format="A4")
    )
    pdf.set_margins(margin, margin, margin)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("cjk", fname=str(font_path), collection_font_number=face)
    pdf.set_title(title)
    pdf.set_creator("PharmaTrace")
    if author:
        pdf.set_author(author)
    return pdf


def record_pdf(
    *,
    title: str,
    subtitle: str,
    subject: str,
    keywords: str,
    printed_by: str,
    printed_at: datetime,
    translate: Callable[..., str],
) -> Any:
    """A signed record printed for review and archive (the batch release summary, the product quality review): a
    portrait PDF/A-2B :func:`report_pdf` with the running header "PharmaTrace · title · subtitle", on every page's
    foot who printed it and when (Beijing time) with "page x of y", the metadata set and its first page added."""
    printed = translate(N_("Printed by {name} at {time} (Beijing time)")).format(
        name=printed_by, time=clock.format_beijing(printed_at)
    )
    pdf = report_pdf(
        header=f"{translate(N_('PharmaTrace'))} · {title} · {subtitle}", footer=printed, title=title,
        page_label=translate(N_("Page {page} of {pages}")), author=printed_by, orientation="P", pdfa=True,
    )  # fmt: skip
    pdf.set_subject(subject)
    pdf.set_keywords(keywords)
    pdf.set_creation_date(printed_at)
    pdf.set_lang("zh-CN")
    pdf.add_page()
    return pdf


def text_line(pdf: Any, text: str, height: float, size: float = 9.5) -> None:
    """A paragraph across the page in the CJK font."""
    pdf.set_font("cjk", size=size)
    pdf.multi_cell(0, height, text, new_x="LMARGIN", new_y="NEXT", align="L")


def table_row(
    pdf: Any, cells: Sequence[str], widths: Sequence[float], height: float, *, fill: bool = False
) -> None:
    """One row of bordered cells as tall as its tallest wrapped cell, moved whole to the next page if it would
    break (the certificate of analysis, the batch release summary)."""
    lines = [
        len(cast(list[str], pdf.multi_cell(w - 2, height, text, dry_run=True, output="LINES"))) if text else 1
        for text, w in zip(cells, widths, strict=True)
    ]
    total = max(lines) * height
    if pdf.will_page_break(total):
        pdf.add_page()
    top, x = pdf.get_y(), pdf.l_margin
    for text, w in zip(cells, widths, strict=True):
        pdf.rect(x, top, w, total, style="DF" if fill else "D")
        pdf.set_xy(x + 1, top)
        pdf.multi_cell(w - 2, height, text, new_x="RIGHT", new_y="TOP", align="L")
        x += w
    pdf.set_xy(pdf.l_margin, top + total)
