"""Labels for materials, containers, weighings and samples: PDF (Chinese text, vector barcodes) and ZPL.

One engine for every label of the plant (TJ-6.3.1: at least name, code, specification, lot, quantity and
unit, expiry). A label is data — a title, rows of fields, a Code 128 of the container or material code
and an optional 2-D symbol (GS1 DataMatrix or QR) — rendered either as a PDF page of the label's size for
office printers, or as ZPL II for thermal label printers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pharmatrace.codes.symbols import Symbol
from pharmatrace.kernel.pdf import pdf_font

QUIET_MODULES = 10  # Code 128 quiet zone each side (ISO/IEC 15417)


@dataclass(frozen=True)
class Label:
    title: str
    fields: Sequence[tuple[str, str]]
    code: str  # printed as Code 128 with the human-readable text under it
    matrix: Symbol | None = None
    footer: str = ""


@dataclass(frozen=True)
class LabelSize:
    width_mm: float = 100
    height_mm: float = 70
    dpi: int = 203  # ZPL dots per inch of the target printer
    margins_mm: float = 3
    fields_font_mm: float = 3.2
    extra: dict[str, str] = field(default_factory=dict)


def render_pdf(labels: Sequence[Label], size: LabelSize | None = None) -> bytes:
    """One page per label, the page the size of the label."""
    from fpdf import FPDF

    size = size or LabelSize()
    font_path, face = pdf_font()
    pdf = FPDF(unit="mm", format=(size.width_mm, size.height_mm))
    pdf.set_auto_page_break(auto=False)
    pdf.set_margins(size.margins_mm, size.margins_mm, size.margins_mm)
    pdf.add_font("cjk", fname=str(font_path), collection_font_number=face)
    pdf.set_creator("PharmaTrace")
    m = size.margins_mm
    for label in labels:
        pdf.add_page()
        matrix_side = 0.0
        if label.matrix is not None:
            grid = label.matrix.modules()
            matrix_side = min(24.0, size.height_mm * 0.4)
            module = matrix_side / max(len(grid), len(grid[0]))
            _draw_grid(pdf, grid, size.width_mm - m - module * len(grid[0]), m, module)
            matrix_side = module * len(grid[0]) + 2
        text_width = size.width_mm - 2 * m - matrix_side
        pdf.set_xy(m, m)
        pdf.set_font("cjk", size=11)
        pdf.multi_cell(text_width, 5, label.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=size.fields_font_mm / 0.3528)
        for name, value in label.fields:
            pdf.set_x(m)
            pdf.multi_cell(
                text_width, size.fields_font_mm * 1.35, f"{name}：{value}", new_x="LMARGIN", new_y="NEXT"
            )
        _code128(pdf, label.code, m, size.height_mm - m - 16, size.width_mm - 2 * m)
        if label.footer:
            pdf.set_font("cjk", size=6)
            pdf.set_xy(m, size.height_mm - m - 2.5)
            pdf.cell(size.width_mm - 2 * m, 2.5, label.footer, align="R")
    return bytes(pdf.output())


def _draw_grid(pdf: object, grid: list[list[bool]], x: float, y: float, module: float) -> None:
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    pdf.set_fill_color(0, 0, 0)
    for row, cells in enumerate(grid):
        start = None
        for col, dark in enumerate([*cells, False]):  # runs of dark modules as one rectangle
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                pdf.rect(x + start * module, y + row * module, (col - start) * module, module, style="F")
                start = None


def _code128(pdf: object, code: str, x: float, y: float, width: float) -> None:
    from fpdf import FPDF

    assert isinstance(pdf, FPDF)
    bars = Symbol("code128", code).modules()[0]
    module = min(0.5, width / (len(bars) + 2 * QUIET_MODULES))  # 0.5 mm = 4 dots at 203 dpi
    left = x + (width - module * len(bars)) / 2
    pdf.set_fill_color(0, 0, 0)
    start = None
    for col, dark in enumerate([*bars, False]):  # each bar as one rectangle the height of the symbol
        if dark and start is None:
            start = col
        elif not dark and start is not None:
            pdf.rect(left + start * module, y, (col - start) * module, 11, style="F")
            start = None
    pdf.set_font("cjk", size=8)
    pdf.set_xy(x, y + 11.5)
    pdf.cell(width, 3.5, code, align="C")


# --- ZPL II -------------------------------------------------------------------------------------------


def _dots(mm: float, dpi: int) -> int:
    return round(mm / 25.4 * dpi)


def _zpl_text(value: str) -> str:
    """Field data with ^FH: the caret, tilde and underscore as hex escapes."""
    return value.replace("_", "_5F").replace("^", "_5E").replace("~", "_7E")


def render_zpl(labels: Sequence[Label], size: LabelSize | None = None) -> str:
    """ZPL II for thermal printers. Chinese text needs a CJK TrueType font on the printer (E:SIMSUN.TTF)."""
    size = size or LabelSize()
    dpi = size.dpi
    out = []
    for label in labels:
        m = _dots(size.margins_mm, dpi)
        lines = [
            "^XA",
            "^CI28",  # UTF-8
            f"^PW{_dots(size.width_mm, dpi)}",
            f"^LL{_dots(size.height_mm, dpi)}",
            "^CWJ,E:SIMSUN.TTF",
            f"^FO{m},{m}^AJN,{_dots(4, dpi)},{_dots(4, dpi)}^FH^FD{_zpl_text(label.title)}^FS",
        ]
        y = m + _dots(6, dpi)
        step = _dots(size.fields_font_mm * 1.35, dpi)
        for name, value in label.fields:
            height = _dots(size.fields_font_mm, dpi)
            lines.append(f"^FO{m},{y}^AJN,{height},{height}^FH^FD{_zpl_text(f'{name}：{value}')}^FS")
            y += step
        if label.matrix is not None:
            x = _dots(size.width_mm - size.margins_mm - 24, dpi)
            if label.matrix.kind == "datamatrix":
                data = label.matrix.data
                if label.matrix.gs1:  # FNC1 first, then the element string with FNC1 (_1) separators
                    from pharmatrace.codes.gs1 import GS, parse

                    data = "_1" + parse(data).element_string().replace(GS, "_1")
                lines.append(f"^FO{x},{m}^BXN,6,200,,,,_^FH_^FD{data}^FS")
            else:
                lines.append(f"^FO{x},{m}^BQN,2,5^FDMA,{label.matrix.data}^FS")
        bar_y = _dots(size.height_mm - size.margins_mm - 16, dpi)
        lines.append(f"^FO{m},{bar_y}^BY2^BCN,{_dots(11, dpi)},Y,N,N^FD{label.code}^FS")
        if label.footer:
            lines.append(
                f"^FO{m},{_dots(size.height_mm - size.margins_mm - 2.5, dpi)}^AJN,16,16^FH^FD{_zpl_text(label.footer)}^FS"
            )
        lines.append("^XZ")
        out.append("\n".join(lines))
    return "\n".join(out) + "\n"
