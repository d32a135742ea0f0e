"""Pages: real-time stock with a scan box and the movement form, locations with their stock and temperature
record, alerts and storage anomalies, intermediates (TJ-6.3.3, TJ-6.4.3.6, TJ-5.2.1.2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.schemas import ReasonOnly
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render
from pharmatrace.wms import service, stock
from pharmatrace.wms.labels import STATUS_LABELS
from pharmatrace.wms.stock_models import LOCATION_KINDS
from pharmatrace.wms.stock_schemas import (
    IntermediateCreate,
    IntermediateDecision,
    IntermediateMove,
    LocationCreate,
    MovementCreate,
    ReadingCreate,
)

router = APIRouter(prefix="/wms", include_in_schema=False)

MaterialView = Annotated[Principal, Depends(Requires("wms.material.view"))]
StockMove = Annotated[Principal, Depends(Requires("wms.stock.move"))]
LocationManage = Annotated[Principal, Depends(Requires("wms.location.manage"))]
AnomalyClose = Annotated[Principal, Depends(Requires("wms.anomaly.close"))]

LOCATION_KIND_LABELS = {
    "warehouse": N_("Warehouse"),
    "zone": N_("Zone"),
    "bin": N_("Bin"),
    "receiving": N_("Receiving area"),
    "quarantine": N_("Quarantine area"),
    "sampling": N_("Sampling room"),
    "weighing_centre": N_("Weighing centre"),
    "staging": N_("Workshop staging room"),
    "buffer": N_("Buffer room"),
    "intermediate_store": N_("Intermediate store"),
    "retained_samples": N_("Retained-samples room"),
    "rejected_store": N_("Rejected-goods store"),
}
MOVE_LABELS = {
    "receive": N_("Receive"),
    "put_away": N_("Put away"),
    "transfer": N_("Transfer"),
    "issue": N_("Issue to a batch"),
    "return": N_("Return"),
    "sample": N_("Sample"),
    "retain": N_("Retained sample"),
    "destroy": N_("Destroy"),
}
ANOMALY_LABELS = {
    "location_unfit": N_("Stored where its conditions are not kept"),
    "temperature_out_of_range": N_("Temperature or humidity out of range"),
    "temperature_record_gap": N_("Temperature record incomplete"),
    "expired": N_("Expired"),
    "retest_due": N_("Retest due"),
    "hold_time_exceeded": N_("Hold time exceeded"),
}
ALERT_LABELS = {
    "expiring": N_("Expires soon"),
    "expired": N_("Expired"),
    "retest_soon": N_("Retest soon"),
    "retest_due": N_("Retest due"),
    "hold_time_soon": N_("Hold time ends soon"),
    "hold_time_passed": N_("Hold time ended"),
    "record_late": N_("Temperature reading late"),
}
assert set(LOCATION_KIND_LABELS) == set(LOCATION_KINDS)


def _flash(done: str) -> str | None:
    return i18n.gettext(N_("Saved")) if done else None


# --- stock ---------------------------------------------------------------------------------------


def _stock_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    query = request.query_params
    filters = {name: query.get(name, "") for name in ("material", "status", "location", "q")}
    with db.sessions() as session:
        result = stock.stock_query(session, material=filters["material"], status=filters["status"],
                                   location=filters["location"], text=filters["q"])  # fmt: skip
        materials = [service.material_public(m) for m in service.list_materials(session)]
        locations = [(loc.code, loc.name) for loc in stock.list_locations(session, active_only=True)]
    values.setdefault("data", {})
    return render(request, "wms/stock.html", status_code=status_code, result=result, materials=materials,
                  locations=locations, statuses=STATUS_LABELS, moves=MOVE_LABELS, **filters, **values)  # fmt: skip


@router.get("/stock", response_class=HTMLResponse)
def stock_page(request: Request, db: DbDep, _: MaterialView, done: str = "") -> Response:
    """Stock now by material, status, location or a scanned code; the movement form for the keeper."""
    return _stock_page(request, db, flash=_flash(done))


@router.post("/stock/move", response_class=HTMLResponse)
async def stock_move(request: Request, db: DbDep, principal: StockMove) -> Response:
    data = await form_data(request)
    return submit(db, principal, MovementCreate, data, write=stock.move, reason=lambda body: body.reason,
                  rerender=lambda status, **values: _stock_page(request, db, status, **values),
                  done=lambda _: f"/wms/stock?q={quote(data.get('container', ''))}&done=1")  # fmt: skip


# --- locations -----------------------------------------------------------------------------------


def _locations_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        found = [stock.location_public(session, loc) for loc in stock.list_locations(session)]
    values.setdefault("data", {})
    return render(request, "wms/locations.html", status_code=status_code, locations=found,
                  kinds=LOCATION_KIND_LABELS, **values)  # fmt: skip


@router.get("/locations", response_class=HTMLResponse)
def locations_page(request: Request, db: DbDep, _: MaterialView, done: str = "") -> Response:
    return _locations_page(request, db, flash=_flash(done))


@router.post("/locations", response_class=HTMLResponse)
async def location_create(request: Request, db: DbDep, principal: LocationManage) -> Response:
    data = await form_data(request)
    return submit(db, principal, LocationCreate, data, write=stock.create_location,
                  rerender=lambda status, **values: _locations_page(request, db, status, **values),
                  done=lambda made: f"/wms/locations/{getattr(made, 'id', '')}?done=1")  # fmt: skip


def _trail(session: Session, object_type: str, object_id: int) -> list[Any]:
    """The record's audit trail, newest first, for the page (SH-7.1.3.a)."""
    return list(session.scalars(
        select(AuditEntry)
        .where(AuditEntry.object_type == object_type, AuditEntry.object_id == str(object_id))
        .order_by(AuditEntry.leaf_index.desc())
    ))  # fmt: skip


def _location_page(
    request: Request, db: DbDep, location_id: int, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        location = stock.get_location(session, location_id)
        public = stock.location_public(session, location)
        result = stock.stock_query(session, location=location.code)
        moved = [stock.movement_public(session, m) for m in stock.movements(session, location_id=location.id)]
        readings = [stock.reading_public(r) for r in stock.readings_of(session, location)]
        anomalies = [stock.anomaly_public(session, a) for a in stock.list_anomalies(session, status="",
                                                                                      location_id=location.id)]  # fmt: skip
        intermediates = [i for i in stock.list_intermediates(session, in_stock=True)
                         if i.location_id in set(stock.subtree_ids(session, location))]  # fmt: skip
        held = [stock.intermediate_public(session, i) for i in intermediates]
        trail = _trail(session, "location", location.id)
    values.setdefault("data", {"measured_at": clock.to_beijing(clock.now()).strftime("%Y-%m-%dT%H:%M:%S")})
    return render(request, "wms/location_detail.html", status_code=status_code, location=public, result=result,
                  movements=moved, readings=readings, anomalies=anomalies, intermediates=held,
                  kinds=LOCATION_KIND_LABELS, moves=MOVE_LABELS, anomaly_labels=ANOMALY_LABELS,
                  statuses=STATUS_LABELS, trail=trail, **values)  # fmt: skip


@router.get("/locations/{location_id}", response_class=HTMLResponse)
def location_page(request: Request, db: DbDep, _: MaterialView, location_id: int, done: str = "") -> Response:
    """A location: its conditions, what is stored in it, its movements in and out, its temperature record."""
    return _location_page(request, db, location_id, flash=_flash(done))


def _as_beijing(value: str) -> str:
    """A ``datetime-local`` input is the plant's time (Beijing); the schema wants an aware time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return (moment if moment.tzinfo else moment.replace(tzinfo=clock.BEIJING)).isoformat()


@router.post("/locations/{location_id}/readings", response_class=HTMLResponse)
async def location_reading(request: Request, db: DbDep, principal: StockMove, location_id: int) -> Response:
    data = await form_data(request)
    with db.sessions() as session:
        data["location"] = stock.get_location(session, location_id).code
    data["measured_at"] = _as_beijing(data.get("measured_at", ""))
    return submit(db, principal, ReadingCreate, data, write=stock.record_reading,
                  rerender=lambda status, **values: _location_page(request, db, location_id, status, **values),
                  done=f"/wms/locations/{location_id}?done=1")  # fmt: skip


@router.post("/locations/{location_id}/void", response_class=HTMLResponse)
async def location_void(request: Request, db: DbDep, principal: LocationManage, location_id: int) -> Response:
    return submit(db, principal, ReasonOnly, await form_data(request), reason=lambda body: body.reason,
                  write=lambda uow, _: stock.void_location(uow, location_id),
                  rerender=lambda status, **values: _location_page(request, db, location_id, status, **values),
                  done=f"/wms/locations/{location_id}?done=1")  # fmt: skip


# --- alerts and anomalies ------------------------------------------------------------------------


def _alerts_page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    horizon = request.query_params.get("horizon", "30")
    days = int(horizon) if horizon.isdigit() else 30
    with db.sessions() as session:
        found = [stock.alert_public(a) for a in stock.alerts(session, horizon_days=min(days, 365))]
        anomalies = [stock.anomaly_public(session, a) for a in stock.list_anomalies(session)]
        closed = [
            stock.anomaly_public(session, a) for a in stock.list_anomalies(session, status="closed", limit=50)
        ]
    values.setdefault("data", {})
    return render(request, "wms/alerts.html", status_code=status_code, alerts=found, alert_labels=ALERT_LABELS, anomalies=anomalies,
                  closed=closed, horizon=days, anomaly_labels=ANOMALY_LABELS, **values)  # fmt: skip


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request, db: DbDep, _: MaterialView, done: str = "") -> Response:
    """Expiry and retest alerts, hold times, late temperature records, storage anomalies (TJ-5.2.1.2)."""
    return _alerts_page(request, db, flash=_flash(done))


@router.post("/anomalies/{anomaly_id}/close", response_class=HTMLResponse)
async def anomaly_close(request: Request, db: DbDep, principal: AnomalyClose, anomaly_id: int) -> Response:
    return submit(db, principal, ReasonOnly, await form_data(request), reason=lambda body: body.reason,
                  write=lambda uow, _: stock.close_anomaly(uow, anomaly_id),
                  rerender=lambda status, **values: _alerts_page(request, db, status, **values),
                  done="/wms/alerts?done=1")  # fmt: skip


# --- intermediates -------------------------------------------------------------------------------

BatchExecute = Annotated[Principal, Depends(Requires("mes.batch.execute"))]
LotDecide = Annotated[Principal, Depends(Requires("wms.material.approve"))]
INTERMEDIATE_MOVE_LABELS = {
    "stock_in": N_("Stock in"),
    "stock_out": N_("Out to the line"),
    "transfer": N_("Transfer"),
    "sample": N_("Sample"),
    "retain": N_("Retained sample"),
    "charge": N_("Charge into a batch"),
    "return": N_("Return to the intermediate store"),
}


def _intermediates_page(
    request: Request, db: DbDep, intermediate_id: int | None = None, status_code: int = 200, **values: Any
) -> Response:
    with db.sessions() as session:
        rows: list[tuple[Any, ...]] | None = None
        if intermediate_id is None:
            found = [stock.intermediate_public(session, i) for i in stock.list_intermediates(session)]
        else:
            found = [stock.intermediate_public(session, stock.get_intermediate(session, intermediate_id))]
            rows = [(m.kind, m.quantity, m.from_location.code if m.from_location else "",
                     m.to_location.code if m.to_location else "", m.batch_no, m.reason, m.moved_at,
                     f"{m.moved_by_name} ({m.moved_by})", m.reviewed_by_name or "")
                    for m in stock.intermediate_movements(session, intermediate_id)]  # fmt: skip
            trail = _trail(session, "intermediate_lot", intermediate_id)
        materials = [(m.code, m.name) for m in service.list_materials(session, kind="intermediate")]
        stores = [
            (loc.code, loc.name) for loc in stock.list_locations(session, active_only=True) if loc.is_workshop
        ]
    values.setdefault("data", {"produced_at": clock.to_beijing(clock.now()).strftime("%Y-%m-%dT%H:%M:%S")})
    extra: dict[str, Any] = {} if rows is None else {"movements": rows, "item": found[0], "trail": trail}
    return render(request, "wms/intermediates.html", status_code=status_code, items=found,
                  fields=stock.INTERMEDIATE_DATA_SET.items, materials=materials, stores=stores,
                  move_labels=INTERMEDIATE_MOVE_LABELS, **extra, **values)  # fmt: skip


@router.get("/intermediates", response_class=HTMLResponse)
def intermediates_page(request: Request, db: DbDep, _: MaterialView, done: str = "") -> Response:
    """Intermediate lots with their hold times and the TJ-B.2.2.3 record of each."""
    return _intermediates_page(request, db, flash=_flash(done))


@router.post("/intermediates", response_class=HTMLResponse)
async def intermediate_create(request: Request, db: DbDep, principal: BatchExecute) -> Response:
    data = await form_data(request)
    data["produced_at"] = _as_beijing(data.get("produced_at", ""))
    return submit(db, principal, IntermediateCreate, data, write=stock.create_intermediate,
                  rerender=lambda status, **values: _intermediates_page(request, db, None, status, **values),
                  done=lambda made: f"/wms/intermediates/{getattr(made, 'id', '')}?done=1")  # fmt: skip


@router.get("/intermediates/{intermediate_id}", response_class=HTMLResponse)
def intermediate_page(
    request: Request, db: DbDep, _: MaterialView, intermediate_id: int, done: str = ""
) -> Response:
    return _intermediates_page(request, db, intermediate_id, flash=_flash(done))


@router.post("/intermediates/{intermediate_id}/move", response_class=HTMLResponse)
async def intermediate_move(
    request: Request, db: DbDep, principal: BatchExecute, intermediate_id: int
) -> Response:
    data = await form_data(request)
    return submit(db, principal, IntermediateMove, data, reason=lambda body: body.reason,
                  write=lambda uow, body: stock.move_intermediate(uow, intermediate_id, body),
                  rerender=lambda status, **values: _intermediates_page(request, db, intermediate_id, status,
                                                                        **values),
                  done=f"/wms/intermediates/{intermediate_id}?done=1")  # fmt: skip


@router.post("/intermediates/{intermediate_id}/decision", response_class=HTMLResponse)
async def intermediate_decision(
    request: Request, db: DbDep, principal: LotDecide, intermediate_id: int
) -> Response:
    data = await form_data(request)
    return submit(db, principal, IntermediateDecision, data, reason=lambda body: body.reason,
                  write=lambda uow, body: stock.decide_intermediate(uow, intermediate_id, body.decision),
                  rerender=lambda status, **values: _intermediates_page(request, db, intermediate_id, status,
                                                                        **values),
                  done=f"/wms/intermediates/{intermediate_id}?done=1")  # fmt: skip
