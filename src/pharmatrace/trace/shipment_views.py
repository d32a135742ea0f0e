"""Pages of the trace area: the aggregation station, customers, shipments (SH-6.2.5, TJ-9.1; issue 10 items 3–4).

* ``/trace/aggregation``: scan a parent (middle pack, case or pallet), see what it holds (count against its pack
  quantity, units by batch) and what holds it; scan children into it; take some or all out with a reason; start
  a new SSCC pallet.
* ``/trace/customers``: the consignees; a new one; voiding with a reason.
* ``/trace/shipments``: shipments filtered by status and customer; a new one. ``/trace/shipments/{number}``: the
  picks with their units by batch, the pick-by-scan form, ship, cancel, returns, and QA's decision on them.

Plain forms a handheld scanner fills (a keyboard-wedge scanner types the code and Enter). Refusals re-draw the page
with the service's message; nothing was written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.trace import aggregation, shipments
from pharmatrace.trace.models import LEVEL_NAMES, SHIPMENT_STATUS_LABELS, SHIPMENT_STATUSES, STATE_LABELS
from pharmatrace.trace.shipment_models import PICK_STATUS_LABELS
from pharmatrace.trace.shipment_schemas import (
    CustomerCreate,
    PackCreate,
    PalletCreate,
    PickCreate,
    ReturnCreate,
    ReturnDecision,
    ShipmentCreate,
    UnpackCreate,
    UnpickCreate,
    VoidBody,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render

router = APIRouter(prefix="/trace", include_in_schema=False)

View = Annotated[Principal, Depends(Requires(aggregation.VIEW_PERMISSION))]
Manage = Annotated[Principal, Depends(Requires(aggregation.MANAGE_PERMISSION))]
QA = Annotated[Principal, Depends(Requires(shipments.RETURN_DECISION_PERMISSION))]

LABELS: dict[str, dict[Any, str]] = {
    "levels": LEVEL_NAMES,
    "kinds": {
        "distributor": N_("Distributor"),
        "hospital": N_("Hospital"),
        "pharmacy": N_("Pharmacy"),
        "other": N_("Other"),
    },
    "statuses": SHIPMENT_STATUS_LABELS,
    "picks": PICK_STATUS_LABELS,
    "states": STATE_LABELS,
}


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("done", request.query_params.get("done"))
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _scans(text: str) -> list[str]:
    """One scan per line (a scanner ends each with Enter); blank lines dropped."""
    return [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]


def _saved(url: str, **query: str) -> str:
    query["done"] = i18n.gettext(N_("Saved"))
    return url + "?" + urlencode(query)


def _act(
    db: DbDep,
    principal: Principal,
    schema: type[BaseModel] | None,
    values: dict[str, Any],
    write: Callable[[UnitOfWork, Any], object],
    page: Callable[..., Response],
    done: str,
    reason: str | None = None,
) -> Response:
    """Validate ``values`` with ``schema``, write through one unit of work, redirect; or re-draw ``page``."""
    body: BaseModel | None = None
    if schema is not None:
        body, errors = validate(schema, values)
        if body is None:
            return page(422, error=next(iter(errors.values()), None), field_errors=errors)
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            write(uow, body)
            uow.commit()
    except PharmaTraceError as error:
        return page(error.http_status, error=i18n.error_message(error))
    return RedirectResponse(done, status_code=303)


# --- the aggregation station -------------------------------------------------------------------------------------


def _station(request: Request, db: DbDep, parent: str, status_code: int = 200, **values: Any) -> Response:
    found = None
    error = values.pop("error", None)
    if parent:
        with db.sessions() as session:
            try:
                found = aggregation.content(session, parent)
            except PharmaTraceError as missing:
                error = error or i18n.error_message(missing)
                status_code = status_code if status_code != 200 else missing.http_status
    return _render(request, "trace/aggregation.html", status_code, parent=parent, found=found, error=error,
                   **values)  # fmt: skip


@router.get("/aggregation", response_class=HTMLResponse)
def station(request: Request, db: DbDep, _: View, parent: str = "") -> Response:
    """Scan a parent to see and change what it holds."""
    return _station(request, db, parent.strip())


def _station_url(parent: str) -> str:
    return _saved("/trace/aggregation", parent=parent)


@router.post("/aggregation/pack", response_class=HTMLResponse)
async def pack_form(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    parent = str(data.get("parent", "")).strip()
    values = {"parent": parent, "children": _scans(str(data.get("children", "")))}
    return _act(db, principal, PackCreate, values,
                lambda uow, body: aggregation.pack(uow, principal, body.parent, body.children),
                lambda status, **v: _station(request, db, parent, status, data=data, **v),
                _station_url(parent))  # fmt: skip


@router.post("/aggregation/unpack", response_class=HTMLResponse)
async def unpack_form(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request, lists=("children",))
    parent = str(data.get("parent", "")).strip()
    reason = str(data.get("reason", "")).strip()
    values = {"parent": parent, "children": data["children"], "reason": reason}
    return _act(db, principal, UnpackCreate, values,
                lambda uow, body: aggregation.unpack(uow, principal, body.parent, body.children or None, body.reason),
                lambda status, **v: _station(request, db, parent, status, data=data, **v),
                _station_url(parent), reason)  # fmt: skip


@router.post("/aggregation/pallet", response_class=HTMLResponse)
async def pallet_form(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    body, errors = validate(PalletCreate, {"line": str(data.get("line", ""))})
    if body is None:
        return _station(request, db, "", 422, error=next(iter(errors.values()), None), data=data)
    try:
        with UnitOfWork(db, principal.actor) as uow:
            sscc = aggregation.new_pallet(uow, principal, body.line).value
            uow.commit()
    except PharmaTraceError as error:
        return _station(request, db, "", error.http_status, error=i18n.error_message(error), data=data)
    return RedirectResponse(_station_url(sscc), status_code=303)


# --- customers ---------------------------------------------------------------------------------------------------


def _customers(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        rows = [shipments.customer_public(c) for c in shipments.list_customers(session, include_voided=True)]
    return _render(request, "trace/customers.html", status_code, rows=rows, **values)


@router.get("/customers", response_class=HTMLResponse)
def customers_page(request: Request, db: DbDep, _: View) -> Response:
    return _customers(request, db)


@router.post("/customers", response_class=HTMLResponse)
async def create_customer_form(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    values = {k: str(data.get(k, "")) for k in ("code", "name", "kind", "address", "licence_no")}
    return _act(db, principal, CustomerCreate, values,
                lambda uow, body: shipments.create_customer(uow, principal, body),
                lambda status, **v: _customers(request, db, status, data=data, **v),
                _saved("/trace/customers"))  # fmt: skip


@router.post("/customers/{code}/void", response_class=HTMLResponse)
async def void_customer_form(code: str, request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    return _act(db, principal, VoidBody, {"reason": reason},
                lambda uow, body: shipments.void_customer(uow, principal, code, body.reason),
                lambda status, **v: _customers(request, db, status, **v),
                _saved("/trace/customers"), reason)  # fmt: skip


# --- shipments ---------------------------------------------------------------------------------------------------


def _shipments(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    status = request.query_params.get("status", "")
    customer = request.query_params.get("customer", "")
    with db.sessions() as session:
        rows = shipments.list_shipments(session, status=status if status in SHIPMENT_STATUSES else "",
                                        customer=customer)  # fmt: skip
        customers = [shipments.customer_public(c) for c in shipments.list_customers(session)]
    return _render(request, "trace/shipments.html", status_code, rows=rows, customers=customers, status=status,
                   customer=customer, **values)  # fmt: skip


@router.get("/shipments", response_class=HTMLResponse)
def shipments_page(request: Request, db: DbDep, _: View) -> Response:
    return _shipments(request, db)


@router.post("/shipments", response_class=HTMLResponse)
async def create_shipment_form(request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    values = {"customer": str(data.get("customer", "")), "address": str(data.get("address", ""))}
    created: list[str] = []

    def write(uow: UnitOfWork, body: ShipmentCreate) -> None:
        created.append(shipments.create_shipment(uow, principal, body).number)

    response = _act(db, principal, ShipmentCreate, values, write,
                    lambda status, **v: _shipments(request, db, status, data=data, **v), "")  # fmt: skip
    if created:
        return RedirectResponse(_saved(_shipment_url(created[0])), status_code=303)
    return response


def _shipment_url(number: str) -> str:
    return f"/trace/shipments/{quote(number)}"


def _shipment(request: Request, db: DbDep, number: str, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        detail = shipments.shipment_detail(session, number)  # NotFound: the error page
    return _render(request, "trace/shipment.html", status_code, shipment=detail, **values)


@router.get("/shipments/{number}", response_class=HTMLResponse)
def shipment_page(number: str, request: Request, db: DbDep, _: View) -> Response:
    return _shipment(request, db, number)


def _on_shipment(request: Request, db: DbDep, principal: Principal, number: str, schema: type[BaseModel] | None,
                 values: dict[str, Any], write: Callable[[UnitOfWork, Any], object], data: dict[str, Any],
                 reason: str | None = None) -> Response:  # fmt: skip
    return _act(db, principal, schema, values, write,
                lambda status, **v: _shipment(request, db, number, status, data=data, **v),
                _saved(_shipment_url(number)), reason)  # fmt: skip


@router.post("/shipments/{number}/picks", response_class=HTMLResponse)
async def pick_form(number: str, request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    return _on_shipment(request, db, principal, number, PickCreate, {"scan": str(data.get("scan", "")).strip()},
                        lambda uow, body: shipments.pick(uow, principal, number, body.scan), data)  # fmt: skip


@router.post("/shipments/{number}/unpick", response_class=HTMLResponse)
async def unpick_form(number: str, request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    values = {"scan": str(data.get("scan", "")).strip(), "reason": reason}
    return _on_shipment(request, db, principal, number, UnpickCreate, values,
                        lambda uow, body: shipments.unpick(uow, principal, number, body.scan, body.reason), data,
                        reason)  # fmt: skip


@router.post("/shipments/{number}/ship", response_class=HTMLResponse)
async def ship_form(number: str, request: Request, db: DbDep, principal: Manage) -> Response:
    return _on_shipment(request, db, principal, number, None, {},
                        lambda uow, _body: shipments.ship(uow, principal, number), {})  # fmt: skip


@router.post("/shipments/{number}/cancel", response_class=HTMLResponse)
async def cancel_form(number: str, request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    return _on_shipment(request, db, principal, number, VoidBody, {"reason": reason},
                        lambda uow, body: shipments.cancel(uow, principal, number, body.reason), data,
                        reason)  # fmt: skip


@router.post("/shipments/{number}/returns", response_class=HTMLResponse)
async def return_form(number: str, request: Request, db: DbDep, principal: Manage) -> Response:
    data = await form_data(request)
    reason = str(data.get("reason", "")).strip()
    values = {"codes": _scans(str(data.get("codes", ""))), "reason": reason}
    return _on_shipment(request, db, principal, number, ReturnCreate, values,
                        lambda uow, body: shipments.receive_return(uow, principal, number, body.codes, body.reason),
                        data, reason)  # fmt: skip


@router.post("/shipments/{number}/decision", response_class=HTMLResponse)
async def decision_form(number: str, request: Request, db: DbDep, principal: QA) -> Response:
    data = await form_data(request, lists=("codes",))
    reason = str(data.get("reason", "")).strip()
    values = {"codes": data["codes"], "decision": str(data.get("decision", "")), "reason": reason}
    return _on_shipment(request, db, principal, number, ReturnDecision, values,
                        lambda uow, body: shipments.decide_return(uow, principal, body.codes, body.decision,
                                                                  body.reason),
                        data, reason)  # fmt: skip
