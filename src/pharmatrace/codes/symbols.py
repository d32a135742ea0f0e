"""Barcode symbols as module grids: Code 128, GS1 DataMatrix and QR, encoded by zxing-cpp.

Labels draw the grid themselves (vector rectangles in the PDF), so a label prints sharp at any printer
resolution and nothing depends on an image library at print time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

import zxingcpp

from pharmatrace.codes.gs1 import ElementString
from pharmatrace.kernel.errors import N_, ValidationFailed

Kind = Literal["code128", "datamatrix", "qr"]
_FORMATS = {
    "code128": zxingcpp.BarcodeFormat.Code128,
    "datamatrix": zxingcpp.BarcodeFormat.DataMatrix,
    "qr": zxingcpp.BarcodeFormat.QRCode,
}


class SymbolTooLong(ValidationFailed):
    code = "symbol_too_long"


@dataclass(frozen=True)
class Symbol:
    kind: Kind
    data: str  # the human-readable text; for GS1 the parenthesised form
    gs1: bool = False

    @classmethod
    def gs1_datamatrix(cls, elements: ElementString) -> Symbol:
        return cls("datamatrix", elements.human_readable(), gs1=True)

    def modules(self) -> list[list[bool]]:
        """Rows of modules, ``True`` = dark, without quiet zone. Code 128 has a single row."""
        try:
            # square DataMatrix: rectangular (DMRE) symbols are not read by every scanner on the floor
            options = {"force_square": True} if self.kind == "datamatrix" else {}
            symbol = zxingcpp.create_barcode(self.data, _FORMATS[self.kind], gs1=self.gs1, **options)
        except Exception as error:  # the encoder says why in English; keep it with our message
            raise SymbolTooLong(N_("“{data}” cannot be encoded as {kind}: {why}"), data=self.data,
                                kind=self.kind, why=str(error)) from error  # fmt: skip
        image = zxingcpp.write_barcode_to_image(symbol, scale=1, add_quiet_zones=False)
        grid = memoryview(cast(Any, image))  # the image exposes the buffer protocol (rows × columns)
        height, width = grid.shape or (0, 0)
        rows = [
            [grid[y, x] < 128 for x in range(width)] for y in range(1 if self.kind == "code128" else height)
        ]
        return rows
