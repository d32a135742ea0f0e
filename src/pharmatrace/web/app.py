"""The FastAPI application: UI pages, ``/api/v1`` with OpenAPI, locally served assets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi import routing as fastapi_routing
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

from pharmatrace import __version__
from pharmatrace.kernel import context
from pharmatrace.kernel.errors import N_, PasswordChangeRequired, PharmaTraceError
from pharmatrace.storage.engine import Database
from pharmatrace.web import i18n
from pharmatrace.web.deps import LANG_COOKIE, LoginRequired
from pharmatrace.web.templating import render

log = logging.getLogger("pharmatrace.web")
STATIC = Path(__file__).parent / "static"


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _api_error(
    status: int, code: str, message: str, details: list[dict[str, str]] | None = None
) -> JSONResponse:
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"] = {"code": code, "message": message, "details": details}
    return JSONResponse(status_code=status, content=body)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Background work of the web process, when asked for: the NTP clock monitor (SH-7.1.5), the
    ledger's time-based checkpoints in quiet periods (SH-8.4.5), deviation escalation, the historian's
    monthly partitions on PostgreSQL and the roll-ups of sources gone quiet (SH-8.4.3)."""
    tasks: list[asyncio.Task[None]] = []
    if app.state.clock_monitor:
        from pharmatrace.kernel.clock_monitor import monitor
        from pharmatrace.kernel.ledger_jobs import checkpointer

        tasks.append(asyncio.create_task(monitor(app.state.db), name="clock-monitor"))
        tasks.append(asyncio.create_task(checkpointer(app.state.db), name="ledger-checkpointer"))
        from pharmatrace.qms.deviations import escalator

        tasks.append(asyncio.create_task(escalator(app.state.db), name="deviation-escalation"))
        from pharmatrace.monitoring.partitions import maintainer

        tasks.append(asyncio.create_task(maintainer(app.state.db), name="historian-partitions"))
        from pharmatrace.monitoring.rollups import merger

        tasks.append(asyncio.create_task(merger(app.state.db), name="historian-rollups"))
    from pharmatrace.monitoring.historian import register_reader, unregister_reader

    # the batch record reads bound tags from the historian (TJ-6.4.3.4); tests opt in (MES tests register theirs)
    reader = register_reader(app.state.db) if app.state.historian_reader else None
    from pharmatrace.monitoring import alarms

    # the release checklist asks monitoring for unassessed alarms (TJ-6.5); same opt-in as the historian reader
    alarm_link = alarms.connect(app.state.db) if app.state.historian_reader else None
    from pharmatrace.monitoring.service import CollectorService

    # every active data source collected into the historian (SH-8.4.3), when asked for (``serve --collect``)
    collectors = CollectorService(app.state.db) if app.state.collectors else None
    if collectors is not None:
        collectors.start()
    try:
        yield
    finally:
        if collectors is not None:
            await collectors.stop()
        if alarm_link is not None:
            alarms.disconnect(alarm_link)
        unregister_reader(reader)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def create_app(
    db: Database,
    *,
    clock_monitor: bool = False,
    historian_reader: bool | None = None,
    collectors: bool = False,
) -> FastAPI:
    """The app on ``db``. ``clock_monitor`` runs the NTP monitor in the background (``serve`` turns it
    on; tests leave it off unless they test it). ``historian_reader`` registers the monitoring historian with the
    batch record while the app runs (ADR 0019; by default with the background work, i.e. under ``serve``).
    ``collectors`` runs the collector service, every active data source into the historian (``serve --collect``)."""
    app = FastAPI(
        title="PharmaTrace API",
        version=__version__,
        description="药品生产全过程数字化追溯系统 — REST API. Authenticate with POST /api/v1/auth/token, "
        "then send `Authorization: Bearer <token>`; the web session cookie works too.",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=_lifespan,
    )
    app.state.db = db
    from pharmatrace.monitoring import vouched as monitoring_vouched
    from pharmatrace.trace import vouched as trace_vouched

    # the Ledger page's verification re-hashes the payloads audited rows vouch for (ADR 0019, 0020)
    trace_vouched.register()
    monitoring_vouched.register()
    app.state.clock_monitor = clock_monitor
    app.state.historian_reader = clock_monitor if historian_reader is None else historian_reader
    app.state.collectors = collectors

    @app.middleware("http")
    async def request_context(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        chosen = request.cookies.get(LANG_COOKIE)
        if chosen is None and _is_api(request):
            chosen = request.headers.get("accept-language")
        tokens = (
            context.request_id.set(rid[:64]),
            context.client_address.set(request.client.host if request.client else None),
            context.locale.set(i18n.normalize(chosen)),
        )
        try:
            response = await call_next(request)
        finally:
            context.request_id.reset(tokens[0])
            context.client_address.reset(tokens[1])
            context.locale.reset(tokens[2])
        response.headers["x-request-id"] = rid[:64]
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("x-frame-options", "DENY")
        response.headers.setdefault("referrer-policy", "same-origin")
        return response

    @app.exception_handler(PharmaTraceError)
    async def domain_error(request: Request, error: PharmaTraceError) -> Response:
        if isinstance(error, LoginRequired) and not _is_api(request):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        if isinstance(error, PasswordChangeRequired) and not _is_api(request):
            return RedirectResponse("/password", status_code=303)
        message = i18n.error_message(error)
        if _is_api(request):
            return _api_error(error.http_status, error.code, message)
        return render(request, "error.html", status_code=error.http_status, message=message, code=error.code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, error: RequestValidationError) -> Response:
        details = i18n.field_errors(list(error.errors()))
        message = i18n.gettext(N_("The request is not valid"))
        if _is_api(request):
            return _api_error(422, "validation_failed", message, details)
        return render(
            request, "error.html", status_code=422, message=message, code="validation_failed", details=details
        )

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, error: IntegrityError) -> Response:
        log.warning("integrity error: %s", error.orig)
        message = i18n.gettext(N_("The database refused the change: it conflicts with existing records"))
        if _is_api(request):
            return _api_error(409, "conflict", message)
        return render(request, "error.html", status_code=409, message=message, code="conflict")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        messages = {404: N_("Not found"), 405: N_("This method is not allowed here")}
        message = i18n.gettext(messages.get(error.status_code, N_("The request cannot be served")))
        if _is_api(request):
            return _api_error(error.status_code, "http_error", message)
        return render(
            request, "error.html", status_code=error.status_code, message=message, code="http_error"
        )

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/v1/docs", include_in_schema=False)
    def api_docs() -> Response:
        """Swagger UI from locally served assets: nothing is fetched from the internet (SH-8.5.5)."""
        return get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="PharmaTrace API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
            swagger_ui_parameters={"syntaxHighlight": False},
        )

    app.router.routes.extend(_route_table())
    return app


API_PREFIX = "/api/v1"


@functools.cache
def _route_table() -> tuple[BaseRoute, ...]:
    """Every page and API route, included once per process and shared by every app built in it.

    FastAPI works out a route's dependencies the first time an included router is matched, for each inclusion:
    some 700 routes took 1.4 s on the first request of every new app (each test's, ``take.py``'s). Included once
    here, the work is done once; an app holds no state of its own in its routes (its database is
    ``app.state.db``)."""
    table = APIRouter()
    for router in page_routers():
        table.include_router(router)
    for router in api_routers():
        table.include_router(router, prefix=API_PREFIX)
    return tuple(_skipping(route) for route in table.routes)


def _literal_prefix(path: str) -> str:
    """What every URL a route path matches begins with: the text before its first ``{parameter}``."""
    return path.split("{", 1)[0]


if hasattr(fastapi_routing, "_IncludedRouter"):

    @dataclasses.dataclass
    class _SkippingRouter(fastapi_routing._IncludedRouter):
        """An included router that answers "no match" at once for a URL none of its routes can match.

        FastAPI (0.120 on) keeps each included router as one entry and asks each in turn, and each asks its
        routes in turn: with some sixty routers and 700 routes, matching took most of a simple request's time
        (6 ms for a 404, 4 ms for ``/healthz``). A route's regular expression only matches URLs that begin with
        the literal text of its path before the first parameter, so a router whose routes' literal prefixes
        the URL does not begin with is passed over; everything else is FastAPI's own matching."""

        prefixes: tuple[str, ...] = ()

        def matches(self, scope: Scope) -> tuple[Match, Scope]:
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if not path.startswith(self.prefixes):
                return Match.NONE, {}
            return super().matches(scope)

    def _skipping(route: BaseRoute) -> BaseRoute:
        if type(route) is not fastapi_routing._IncludedRouter:
            return route
        prefixes = []
        for inner in route.original_router.routes:
            path = getattr(inner, "path", None)
            if not isinstance(inner, Route | APIRoute) or not isinstance(path, str):
                return route  # a mount or a nested router: left to FastAPI as it is
            prefixes.append(_literal_prefix(route.include_context.path_for(inner)))
        return _SkippingRouter(
            original_router=route.original_router,
            include_context=route.include_context,
            prefixes=tuple(sorted(set(prefixes))),
        )

else:  # an older FastAPI flattens included routers into plain routes itself

    def _skipping(route: BaseRoute) -> BaseRoute:
        return route


def page_routers() -> list[APIRouter]:
    from pharmatrace.compliance import views as compliance_views
    from pharmatrace.documents import distribution_views as document_distribution_views
    from pharmatrace.documents import views as document_views
    from pharmatrace.equipment import views as equipment_views
    from pharmatrace.kernel import clock_views, ledger_views
    from pharmatrace.kernel.audit_trail import views as audit_views
    from pharmatrace.kernel.esign import views as esign_views
    from pharmatrace.kernel.identity import views as identity_views
    from pharmatrace.lims import certificate_views as lims_certificate_views
    from pharmatrace.lims import oos_views as lims_oos_views
    from pharmatrace.lims import reagent_views as lims_reagent_views
    from pharmatrace.lims import result_views as lims_result_views
    from pharmatrace.lims import sample_views as lims_sample_views
    from pharmatrace.lims import specs_views as lims_specs_views
    from pharmatrace.lims import stability_views as lims_stability_views
    from pharmatrace.mes import dispensing_views as mes_dispensing_views
    from pharmatrace.mes import execution_views as mes_execution_views
    from pharmatrace.mes import packaging_views as mes_packaging_views
    from pharmatrace.mes import recipe_views as mes_recipe_views
    from pharmatrace.mes import review_views as mes_review_views
    from pharmatrace.monitoring import alarm_views as monitoring_alarm_views
    from pharmatrace.monitoring import assignment_views as monitoring_assignment_views
    from pharmatrace.monitoring import destruction_views as monitoring_destruction_views
    from pharmatrace.monitoring import environment_views as monitoring_environment_views
    from pharmatrace.monitoring import service_views as monitoring_service_views
    from pharmatrace.monitoring import views as monitoring_views
    from pharmatrace.origin import views as origin_views
    from pharmatrace.qms import audit_views as qms_audit_views
    from pharmatrace.qms import capa_views as qms_capa_views
    from pharmatrace.qms import change_views as qms_change_views
    from pharmatrace.qms import complaint_views as qms_complaint_views
    from pharmatrace.qms import dashboard_views as qms_dashboard_views
    from pharmatrace.qms import deviation_views as qms_deviation_views
    from pharmatrace.qms import dossier_views as qms_dossier_views
    from pharmatrace.qms import extension_views as qms_extension_views
    from pharmatrace.qms import pqr_views as qms_pqr_views
    from pharmatrace.qms import recall_views as qms_recall_views
    from pharmatrace.qms import release_views as qms_release_views
    from pharmatrace.qms import risk_views as qms_risk_views
    from pharmatrace.qms import supplier_qualification_views as qms_supplier_qualification_views
    from pharmatrace.qms import validation_views as qms_validation_views
    from pharmatrace.trace import code_views as trace_code_views
    from pharmatrace.trace import genealogy_views as trace_genealogy_views
    from pharmatrace.trace import public_views as trace_public_views
    from pharmatrace.trace import shipment_views as trace_shipment_views
    from pharmatrace.training import course_views as training_course_views
    from pharmatrace.training import views as training_views
    from pharmatrace.web import views as shell_views
    from pharmatrace.wms import code_rule_views as wms_code_rule_views
    from pharmatrace.wms import lot_views as wms_lot_views
    from pharmatrace.wms import stock_views as wms_stock_views
    from pharmatrace.wms import views as wms_views

    return [
        shell_views.router,
        identity_views.router,
        clock_views.router,
        audit_views.router,
        ledger_views.router,
        esign_views.router,
        wms_views.router,
        wms_lot_views.router,
        wms_stock_views.router,
        wms_code_rule_views.router,
        origin_views.router,
        equipment_views.router,
        document_views.router,
        document_distribution_views.router,
        training_views.router,
        training_course_views.router,
        mes_recipe_views.router,
        mes_execution_views.router,
        mes_dispensing_views.router,
        mes_packaging_views.router,
        mes_review_views.router,
        lims_specs_views.router,
        lims_sample_views.router,
        lims_reagent_views.router,
        lims_result_views.router,
        lims_stability_views.router,
        lims_certificate_views.router,
        lims_oos_views.router,
        qms_deviation_views.router,
        qms_dashboard_views.router,
        qms_capa_views.router,
        qms_change_views.router,
        qms_release_views.router,
        qms_complaint_views.router,
        qms_recall_views.router,
        qms_audit_views.router,
        qms_risk_views.router,
        qms_extension_views.router,
        qms_pqr_views.router,
        qms_validation_views.router,
        qms_dossier_views.router,
        qms_supplier_qualification_views.router,
        monitoring_views.router,
        monitoring_alarm_views.router,
        monitoring_environment_views.router,
        monitoring_service_views.router,
        monitoring_assignment_views.router,
        monitoring_destruction_views.router,
        trace_code_views.router,
        trace_shipment_views.router,
        trace_genealogy_views.router,
        trace_public_views.router,
        compliance_views.router,
    ]


def api_routers() -> list[APIRouter]:
    """Every area's API router; the permission-matrix test walks these."""
    from pharmatrace.compliance import api as compliance_api
    from pharmatrace.documents import api as document_api
    from pharmatrace.documents import distribution_api as document_distribution_api
    from pharmatrace.equipment import api as equipment_api
    from pharmatrace.exchange import api as exchange_api
    from pharmatrace.kernel import clock_api
    from pharmatrace.kernel.audit_trail import api as audit_api
    from pharmatrace.kernel.esign import api as esign_api
    from pharmatrace.kernel.identity import api as identity_api
    from pharmatrace.lims import certificate_api as lims_certificate_api
    from pharmatrace.lims import oos_api as lims_oos_api
    from pharmatrace.lims import reagent_api as lims_reagent_api
    from pharmatrace.lims import result_api as lims_result_api
    from pharmatrace.lims import sample_api as lims_sample_api
    from pharmatrace.lims import specs_api as lims_specs_api
    from pharmatrace.lims import stability_api as lims_stability_api
    from pharmatrace.mes import dispensing_api as mes_dispensing_api
    from pharmatrace.mes import execution_api as mes_execution_api
    from pharmatrace.mes import packaging_api as mes_packaging_api
    from pharmatrace.mes import recipe_api as mes_recipe_api
    from pharmatrace.mes import review_api as mes_review_api
    from pharmatrace.monitoring import alarm_api as monitoring_alarm_api
    from pharmatrace.monitoring import api as monitoring_api
    from pharmatrace.monitoring import assignment_api as monitoring_assignment_api
    from pharmatrace.monitoring import destruction_api as monitoring_destruction_api
    from pharmatrace.monitoring import trend_api as monitoring_trend_api
    from pharmatrace.origin import api as origin_api
    from pharmatrace.qms import audit_api as qms_audit_api
    from pharmatrace.qms import capa_api as qms_capa_api
    from pharmatrace.qms import change_api as qms_change_api
    from pharmatrace.qms import complaint_api as qms_complaint_api
    from pharmatrace.qms import deviation_api as qms_deviation_api
    from pharmatrace.qms import dossier_api as qms_dossier_api
    from pharmatrace.qms import extension_api as qms_extension_api
    from pharmatrace.qms import pqr_api as qms_pqr_api
    from pharmatrace.qms import recall_api as qms_recall_api
    from pharmatrace.qms import release_api as qms_release_api
    from pharmatrace.qms import risk_api as qms_risk_api
    from pharmatrace.qms import supplier_qualification_api as qms_supplier_qualification_api
    from pharmatrace.qms import validation_api as qms_validation_api
    from pharmatrace.trace import code_api as trace_code_api
    from pharmatrace.trace import export_api as trace_export_api
    from pharmatrace.trace import genealogy_api as trace_genealogy_api
    from pharmatrace.trace import public_views as trace_public_views
    from pharmatrace.trace import shipment_api as trace_shipment_api
    from pharmatrace.training import api as training_api
    from pharmatrace.training import course_api as training_course_api
    from pharmatrace.wms import api as wms_api
    from pharmatrace.wms import stock_api as wms_stock_api

    return [
        identity_api.router,
        clock_api.router,
        audit_api.router,
        esign_api.router,
        wms_api.router,
        wms_stock_api.router,
        origin_api.router,
        equipment_api.router,
        document_api.router,
        document_distribution_api.router,
        training_api.router,
        training_course_api.router,
        mes_recipe_api.router,
        mes_execution_api.router,
        mes_dispensing_api.router,
        mes_packaging_api.router,
        mes_review_api.router,
        lims_specs_api.router,
        lims_sample_api.router,
        lims_reagent_api.router,
        lims_result_api.router,
        lims_stability_api.router,
        lims_certificate_api.router,
        lims_oos_api.router,
        qms_deviation_api.router,
        qms_capa_api.router,
        qms_change_api.router,
        qms_release_api.router,
        qms_complaint_api.router,
        qms_recall_api.router,
        qms_audit_api.router,
        qms_risk_api.router,
        qms_extension_api.router,
        qms_pqr_api.router,
        qms_validation_api.router,
        qms_dossier_api.router,
        qms_supplier_qualification_api.router,
        monitoring_api.router,
        monitoring_alarm_api.router,
        monitoring_trend_api.router,
        monitoring_assignment_api.router,
        monitoring_destruction_api.router,
        trace_code_api.router,
        trace_shipment_api.router,
        trace_genealogy_api.router,
        trace_export_api.router,
        trace_public_views.api_router,
        exchange_api.router,
        compliance_api.router,
    ]
