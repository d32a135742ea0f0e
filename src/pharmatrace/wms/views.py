"""Material master pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render
from pharmatrace.wms import service
from pharmatrace.wms.models import MATERIAL_KINDS
from pharmatrace.wms.schemas import MaterialCreate

router = APIRouter(prefix="/wms", include_in_schema=False)

MaterialView = Annotated[Principal, Depends(Requires("wms.material.view"))]
MaterialManage = Annotated[Principal, Depends(Requires("wms.material.manage"))]

KIND_LABELS = {
    "herb": N_("Herbal material"),
    "decoction_piece": N_("Decoction piece"),
    "extract": N_("Extract"),
    "excipient": N_("Excipient"),
    "primary_packaging": N_("Primary packaging"),
    "secondary_packaging": N_("Secondary packaging"),
    "intermediate": N_("Intermediate"),
    "finished_good": N_("Finished good"),
}
assert set(KIND_LABELS) == set(MATERIAL_KINDS)


def _page(
    request: Request, db: DbDep, status_code: int = 200, q: str = "", kind: str = "", **values: Any
) -> Response:
    with db.sessions() as session:
        materials = [service.material_public(m) for m in service.list_materials(session, text=q, kind=kind)]
    values.setdefault("data", {})
    return render(
        request,
        "wms/materials.html",
        status_code=status_code,
        materials=materials,
        q=q,
        kind=kind,
        kinds=KIND_LABELS,
        **values,
    )


@router.get("/materials", response_class=HTMLResponse)
def materials_page(
    request: Request, db: DbDep, _: MaterialView, q: str = "", kind: str = "", done: int = 0
) -> Response:
    return _page(request, db, q=q, kind=kind, flash=i18n.gettext(N_("Saved")) if done else None)


@router.post("/materials", response_class=HTMLResponse)
async def material_create(request: Request, db: DbDep, principal: MaterialManage) -> Response:
    data = await form_data(request)
    create, errors = validate(MaterialCreate, data)
    if create is None:
        return _page(request, db, 422, data=data, field_errors=errors)
    try:
        with UnitOfWork(db, principal.actor) as uow:
            service.create_material(uow, create)
            uow.commit()
    except PharmaTraceError as error:
        return _page(request, db, error.http_status, data=data, error=i18n.error_message(error))
    return RedirectResponse("/wms/materials?done=1", status_code=303)
