"""The PDF of a printed copy of a controlled document (TJ-9.2: 打印件的分发、撤销和销毁的电子记录).

Every page carries the copy's marking as a diagonal watermark and a footer: controlled copy (受控副本) or
uncontrolled copy (未受控副本), the document number and version, the copy number, who printed it (full
name), when (Beijing time) and "以电子系统现行版本为准" (the electronic system's current version prevails).

The marking is the plant's fixed paper marking, printed in Chinese with its English beside it whatever
the reader's language, like a GMP label: a copy must read the same to every holder and inspector.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pharmatrace.kernel import clock
from pharmatrace.kernel.pdf import pdf_font

CONTROLLED_MARK = "受控副本"
UNCONTROLLED_MARK = "未受控副本"
MARK_EN = {"controlled": "CONTROLLED COPY", "uncontrolled": "UNCONTROLLED COPY"}
PREVAILS = "以电子系统现行版本为准"


def mark_of(kind: str) -> str:
    return CONTROLLED_MARK if kind == "controlled" else UNCONTROLLED_MARK


@dataclass(frozen=True, slots=True)
class PrintedCopy:
    """What the PDF of one copy shows besides the text of the version."""

    kind: str  # 'controlled' | 'uncontrolled'
    number: str  # "SOP-PR-001"
    title: str
    version: int
    copy_no: int | None
    printed_by_name: str
    printed_by_login: str
    printed_at: datetime  # UTC
    effective_from: datetime | None
    recipient: str

    def footer_lines(self) -> tuple[str, str]:
        copy = (
            f"副本号 Copy No. {self.copy_no}" if self.copy_no is not None else "副本号 Copy No. —（不回收）"
        )
        first = (
            f"{mark_of(self.kind)} {MARK_EN[self.kind]} · {self.number} 第{self.version}版 Version {self.version}"
            f" · {copy}"
        )
        second = (
            f"打印人 Printed by {self.printed_by_name} ({self.printed_by_login}) · 打印时间 Printed at "
            f"{clock.format_beijing(self.printed_at)}（北京时间）· {PREVAILS}"
        )
        return first, second


class _Source:
    """What a copy prints: the version's text, or its stored PDF (stamped page by page), or its image."""

    def __init__(self, text: str = "", pdf: bytes | None = None, image: bytes | None = None) -> None:
        self.text, self.pdf, self.image = text, pdf, image


def render_copy(
    copy: PrintedCopy, text: str, *, pdf: bytes | None = None, image: bytes | None = None
) -> tuple[bytes, int]:
    """The PDF of one printed copy and its number of pages.

    A version authored in the application (Markdown) or a DOCX prints as its text, laid out on A4. A stored
    PDF prints as itself, every original page stamped with the watermark and the footer; a stored image is
    placed on an A4 page. Either way every page carries the copy's marking.
    """
    if pdf is not None:
        return _stamp_pdf(copy, pdf)
    return _laid_out(copy, _Source(text=text, image=image))


def _copy_pdf(copy: PrintedCopy, *, header: bool = True) -> Any:
    """An fpdf2 document whose every page carries the watermark, the header (optional) and the footer."""
    from fpdf import FPDF

    font_path, face = pdf_font()

    class CopyPdf(FPDF):
        def header(self) -> None:
            _watermark(self, copy)
            if not header:
                return
            self.set_font("cjk", size=8)
            self.set_text_color(90, 90, 90)
            self.cell(0, 5, f"{copy.number} 第{copy.version}版  {copy.title}", new_x="LMARGIN", new_y="NEXT")
            self.set_draw_color(160, 160, 160)
            self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
            self.ln(3)
            self.set_text_color(0, 0, 0)

        def footer(self) -> None:
            self.set_y(-18)
            self.set_draw_color(160, 160, 160)
            self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
            self.set_font("cjk", size=7.5)
            self.set_text_color(60, 60, 60)
            first, second = copy.footer_lines()
            self.cell(0, 4.5, first, new_x="LMARGIN", new_y="NEXT")
            self.cell(0, 4.5, second, new_x="LMARGIN", new_y="NEXT")
            self.cell(
                0, 4.5, f"第 {self.page_no()} 页 / 共 {{nb}} 页  Page {self.page_no()} of {{nb}}", align="R"
            )
            self.set_text_color(0, 0, 0)

    document = CopyPdf(unit="mm", format="A4")
    document.add_font("cjk", fname=str(font_path), collection_font_number=face)
    document.set_creator("PharmaTrace")
    document.set_title(f"{copy.number} v{copy.version} {mark_of(copy.kind)}")
    document.set_margins(18, 15, 18)
    document.set_auto_page_break(auto=True, margin=24)
    document.alias_nb_pages()
    return document


def _laid_out(copy: PrintedCopy, source: _Source) -> tuple[bytes, int]:
    pdf = _copy_pdf(copy)
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    pdf.multi_cell(0, 8, copy.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    effective = clock.format_beijing(copy.effective_from, seconds=False) if copy.effective_from else "—"
    pdf.multi_cell(
        0,
        5,
        f"文件编号 {copy.number} · 版本 {copy.version} · 生效日期 {effective} · 持有人 {copy.recipient}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    if source.image is not None:
        # the drawing or scanned page, as large as the page body allows, its proportions kept
        top = pdf.get_y()
        pdf.image(
            io.BytesIO(source.image),
            x=pdf.l_margin,
            y=top,
            w=pdf.epw,
            h=pdf.h - top - 26,
            keep_aspect_ratio=True,
        )
    else:
        pdf.set_font("cjk", size=10.5)
        pdf.multi_cell(0, 6, source.text.strip() or "—", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output()), int(pdf.pages_count)


def _stamp_pdf(copy: PrintedCopy, original: bytes) -> tuple[bytes, int]:
    """The stored PDF itself, each page overlaid with the watermark and the footer at its own size."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(original))
    writer = PdfWriter(clone_from=reader)
    font_path, face = pdf_font()
    overlay = FPDF(unit="pt")
    overlay.add_font("cjk", fname=str(font_path), collection_font_number=face)
    overlay.set_auto_page_break(auto=False)
    count = len(writer.pages)
    first, second = copy.footer_lines()
    for number, page in enumerate(writer.pages, start=1):
        page.transfer_rotation_to_content()
        box = page.mediabox
        width, height = float(box.width), float(box.height)
        overlay.add_page(format=(width, height))
        _watermark(overlay, copy)
        overlay.set_font("cjk", size=7)
        overlay.set_text_color(60, 60, 60)
        margin = 18.0
        for line, text in enumerate(
            (first, second, f"第 {number} 页 / 共 {count} 页  Page {number} of {count}")
        ):
            overlay.text(margin, height - 30 + line * 9, text)
    stamps = PdfReader(io.BytesIO(bytes(overlay.output())))
    for page, stamp in zip(writer.pages, stamps.pages, strict=True):
        page.merge_transformed_page(
            stamp, (1, 0, 0, 1, float(page.mediabox.left), float(page.mediabox.bottom))
        )
    writer.add_metadata(
        {"/Title": f"{copy.number} v{copy.version} {mark_of(copy.kind)}", "/Creator": "PharmaTrace"}
    )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), count


def _watermark(pdf: Any, copy: PrintedCopy) -> None:
    """The diagonal marking across the page, light so the text stays legible, under everything else."""
    x, y = pdf.get_x(), pdf.get_y()
    with pdf.local_context(
        fill_opacity=0.12, text_color=(200, 0, 0) if copy.kind == "controlled" else (90, 90, 90)
    ):
        pdf.set_font("cjk", size=54)
        mark = mark_of(copy.kind)
        if copy.copy_no is not None:
            mark = f"{mark} No.{copy.copy_no}"
        width = pdf.get_string_width(mark)
        cx, cy = pdf.w / 2, pdf.h / 2
        with pdf.rotation(angle=45, x=cx, y=cy):
            pdf.text(cx - width / 2, cy, mark)
    pdf.set_xy(x, y)
