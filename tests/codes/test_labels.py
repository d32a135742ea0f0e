"""Labels: the PDF is rasterised and its barcodes read back by a decoder, as a scanner would."""

from __future__ import annotations

import io

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader

from pharmatrace.codes import gs1, labels
from pharmatrace.codes.symbols import Symbol

pytestmark = pytest.mark.clause("TJ-6.3.1", "TJ-6.3.2.2.c", "TJ-7.5.1")

ELEMENTS = gs1.parse("(01)09506000134352(17)271231(10)DS2611001(21)0007")
CONTAINER = labels.Label(
    title="丹参（中药材） 待验",
    fields=[("物料编码", "HB-DS-001"), ("批号", "DS2611001"), ("规格", "药典标准"), ("数量", "25.00 kg"),
            ("有效期至", "2027-12-31"), ("供应商", "商洛丹参规范化种植基地")],
    code="HB2611-00007",
    matrix=Symbol.gs1_datamatrix(ELEMENTS),
    footer="第 7 件 / 共 40 件",
)  # fmt: skip


def read_back(pdf: bytes) -> dict[str, tuple[str, str]]:
    """Barcode format → (decoded text, content type), from a 600 dpi raster of the first page."""
    page = pypdfium2.PdfDocument(pdf)[0]
    image = page.render(scale=600 / 72).to_pil().convert("L")  # a 600 dpi scan of the printed label
    return {str(b.format): (b.text, str(b.content_type)) for b in zxingcpp.read_barcodes(image)}


def test_a_container_label_prints_its_code_its_gs1_datamatrix_and_chinese_text() -> None:
    pdf = labels.render_pdf([CONTAINER])
    found = read_back(pdf)
    assert found["Code 128"][0] == "HB2611-00007"
    text, content = found["Data Matrix"]
    assert content == "ContentType.GS1"  # a GS1 DataMatrix (FNC1 first), not plain text
    assert found["Code 128"][1] == "ContentType.Text"
    grid = CONTAINER.matrix.modules() if CONTAINER.matrix else []
    assert len(grid) == len(grid[0]) == 22  # a square symbol: DMRE rectangles are not read by every scanner
    assert gs1.parse(text).elements == ELEMENTS.elements
    words = PdfReader(io.BytesIO(pdf)).pages[0].extract_text().replace("\x00", "")
    for shown in ("丹参", "HB-DS-001", "DS2611001", "25.00 kg", "2027-12-31"):
        assert shown in words


def test_a_qr_label_and_one_page_per_label() -> None:
    sample = labels.Label(title="样品 丹参", fields=[("样品编号", "S2611-0042")], code="S2611-0042",
                          matrix=Symbol("qr", "S2611-0042|HB-DS-001|DS2611001"))  # fmt: skip
    pdf = labels.render_pdf([CONTAINER, sample], labels.LabelSize(width_mm=60, height_mm=40))
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 2
    page = pypdfium2.PdfDocument(pdf)[1]
    image = page.render(scale=600 / 72).to_pil().convert("L")
    decoded = {b.text for b in zxingcpp.read_barcodes(image)}
    assert decoded == {"S2611-0042", "S2611-0042|HB-DS-001|DS2611001"}


def test_zpl_for_a_thermal_printer() -> None:
    zpl = labels.render_zpl([CONTAINER])
    assert zpl.startswith("^XA\n^CI28\n") and zpl.rstrip().endswith("^XZ")
    assert "^BCN,88,Y,N,N^FDHB2611-00007^FS" in zpl  # Code 128, 11 mm at 203 dpi
    # GS1 DataMatrix: FNC1 (_1) first and after the variable-length batch
    assert "^BXN,6,200,,,,_^FH_^FD_10109506000134352172712311" + "0DS2611001_1210007^FS" in zpl
    assert "^FH^FD物料编码：HB-DS-001^FS" in zpl
    assert (
        labels.render_zpl([labels.Label(title="a_b^c~d", fields=[], code="X1")]).count("a_5Fb_5Ec_7Ed") == 1
    )
