"""``/api/v1/exchange/datasets`` — the Appendix B data sets and their export (TJ-B.1.3, TJ-B.1.5)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel

from pharmatrace.exchange import export
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires

router = APIRouter(prefix="/exchange", tags=["data exchange"])

ExchangeExport = Annotated[Principal, Depends(Requires(export.PERMISSION))]


class DataSetPublic(BaseModel):
    clause: str
    title: str
    short_names: list[str]
    exportable: bool
    permission: str | None


@router.get("/datasets", response_model=list[DataSetPublic])
def list_data_sets(_: ExchangeExport) -> list[DataSetPublic]:
    """Every registered data set: its clause, title and short names, and whether it is exported here."""
    return [
        DataSetPublic(clause=i.clause, title=i.title, short_names=list(i.short_names), exportable=i.exportable,
                      permission=i.permission)
        for i in export.catalogue()
    ]  # fmt: skip


@router.get(
    "/datasets/{clause}",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def export_data_set(
    clause: str, principal: ExchangeExport, db: DbDep, format: Literal["json", "csv"] = "json"
) -> Response:
    """The data set's records under the guide's short names, as JSON or CSV; the export is audited."""
    result = export.export(db, principal, clause, format)
    return Response(
        result.content,
        media_type=result.media_type,
        headers={"content-disposition": f'attachment; filename="{result.filename}"'},
    )
