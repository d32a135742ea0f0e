"""Pages: master recipes (TJ-6.4.3.1, TJ-6.1). The list with filters and an import form; a version's page
with its procedure tree (unit procedures → operations → steps), BOM, parameters and limits, sign-offs, time
constraints, equipment and room, each step's SOP with its current effective version, the versions, the
decisions with their signatures and the audit trail, and the forms of its lifecycle; a diff of two versions."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import recipes
from pharmatrace.mes.recipe_demo import load_file
from pharmatrace.mes.recipe_models import RECIPE_STATUSES, MasterRecipeVersion
from pharmatrace.mes.recipe_schemas import SIGNOFFS, STAGES, STEP_TYPES, RecipeBody
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data
from pharmatrace.web.templating import render
from pharmatrace.wms.models import Material

router = APIRouter(prefix="/mes", include_in_schema=False)

RecipeView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
RecipeAuthor = Annotated[Principal, Depends(Requires("mes.recipe.author"))]
RecipeReview = Annotated[Principal, Depends(Requires("mes.batch.review"))]
RecipeApprove = Annotated[Principal, Depends(Requires("mes.recipe.approve"))]

STEP_LABELS = {
    "instruction": N_("Instruction"),
    "data_entry": N_("Data entry"),
    "calculation": N_("Calculation"),
    "pre_use_check": N_("Pre-use check"),
    "material_identification": N_("Material identification"),
    "weighing": N_("Weighing"),
    "charging": N_("Charging"),
    "cpp": N_("Critical process parameter"),
    "ipc": N_("In-process control"),
    "yield": N_("Yield"),
    "line_clearance": N_("Line clearance"),
}
SIGNOFF_LABELS = {
    "none": N_("No sign-off"),
    "operator": N_("Operator"),
    "operator_verifier": N_("Operator and verifier"),
    "supervisor": N_("Supervisor"),
    "qa": N_("QA"),
}
DECISION_LABELS = {
    "reviewed": N_("Reviewed"),
    "approved": N_("Approved"),
    "returned": N_("Returned to draft"),
}
STAGE_LABELS = {
    "production": N_("Production"),
    "inspection": N_("Visual inspection"),
    "packaging": N_("Packaging"),
}
assert set(STEP_LABELS) == set(STEP_TYPES)
assert set(SIGNOFF_LABELS) == set(SIGNOFFS)
assert set(STAGE_LABELS) == set(STAGES)
LABELS = {"status": recipes.STATUS_LABELS, "steps": STEP_LABELS, "signoffs": SIGNOFF_LABELS,
          "decisions": DECISION_LABELS, "meanings": MEANINGS, "stages": STAGE_LABELS}  # fmt: skip
MAX_FILE = 1_000_000  # bytes of an import file


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("form", "")
    values.setdefault("scaled", None)
    return render(request, template, status_code=status_code, labels=LABELS, **values)


def _back(url: str, *, error: str | None = None, done: str | None = None) -> RedirectResponse:
    if error is not None:
        return RedirectResponse(f"{url}?error={quote(error)}", status_code=303)
    return RedirectResponse(f"{url}?done={quote(done or '')}", status_code=303)


def _version_url(version: MasterRecipeVersion) -> str:
    return f"/mes/recipes/{version.recipe.code}/v/{version.version}"


# --- the list ------------------------------------------------------------------------------------------


@router.get("/recipes", response_class=HTMLResponse)
def recipe_list(
    request: Request, db: DbDep, principal: RecipeView, q: str = "", status: str = "", error: str = ""
) -> Response:
    """Master recipes, filtered by text and by the status of a version; the import form for authors."""
    status = status if status in RECIPE_STATUSES else ""
    with db.sessions() as session:
        rows = [recipes.recipe_public(r) for r in recipes.list_recipes(session, text=q, status=status)]
    return _render(request, "mes/recipes.html", rows=rows, q=q, status=status, statuses=RECIPE_STATUSES,
                   error=error or None)  # fmt: skip


async def _uploaded_body(request: Request) -> tuple[RecipeBody | None, dict[str, str], str | None]:
    """The body from an uploaded YAML or JSON file; ``(None, fields, message)`` when it does not parse."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None, fields, i18n.gettext(N_("Choose a recipe file (YAML or JSON)"))
    raw = await upload.read(MAX_FILE + 1)
    if len(raw) > MAX_FILE:
        return None, fields, i18n.gettext(N_("The file is too large"))
    try:
        data = load_file(raw.decode("utf-8-sig"))
        return RecipeBody.model_validate(data), fields, None
    except ValidationError as error:
        first = i18n.field_errors(list(error.errors()))[0]
        return None, fields, f"{first['field']}: {first['message']}"
    except (ValueError, UnicodeDecodeError):
        return None, fields, i18n.gettext(N_("The file is not YAML or JSON text"))


@router.post("/recipes/import", response_class=HTMLResponse)
async def recipe_import(request: Request, db: DbDep, principal: RecipeAuthor) -> Response:
    body, fields, problem = await _uploaded_body(request)
    if body is None:
        return _back("/mes/recipes", error=problem or "")
    try:
        with UnitOfWork(db, principal.actor) as uow:
            version = recipes.import_draft(uow, body, fields.get("change_summary", "")[:500])
            uow.commit()
            url = _version_url(version)
    except PharmaTraceError as error:
        return _back("/mes/recipes", error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("Imported as a draft")))


# --- a version -----------------------------------------------------------------------------------------


@router.get("/recipes/{code}", response_class=HTMLResponse)
def recipe_page(db: DbDep, principal: RecipeView, code: str) -> Response:
    """The usable version, or the latest when none is approved."""
    with db.sessions() as session:
        recipe = recipes.recipe_by_code(session, code)
        version = recipes.usable_version(session, recipe.code) or recipe.versions[-1]
        return RedirectResponse(_version_url(version), status_code=303)


def _trail(session: Session, version: MasterRecipeVersion) -> list[AuditEntry]:
    records = [("master_recipe", [version.recipe_id]), ("master_recipe_version", [version.id]),
               ("recipe_decision", [d.id for d in version.decisions])]  # fmt: skip
    conditions = [
        (AuditEntry.object_type == kind) & AuditEntry.object_id.in_([str(i) for i in ids])
        for kind, ids in records
        if ids
    ]
    return list(
        session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc()))
    )


def _tree(body: RecipeBody) -> list[dict[str, Any]]:
    """Unit procedures → operations → steps, with the predecessors as the recipe means them."""
    op_before = recipes.operation_predecessors(body)
    step_before = recipes.step_predecessors(body)
    return [
        {"unit": unit, "operations": [
            {"op": op, "predecessors": op_before[op.code],
             "steps": [{"step": s, "predecessors": step_before[s.code]} for s in op.steps]}
            for op in unit.operations
        ]}
        for unit in body.unit_procedures
    ]  # fmt: skip


def _version_page(
    request: Request, db: DbDep, principal: Principal, code: str, number: int, status_code: int = 200,
    **values: Any,
) -> Response:  # fmt: skip
    with db.sessions() as session:
        version = recipes.version_of(session, code, number)
        body = recipes.body_of(version)
        codes = {i.material_code for i in body.bom}
        rows = session.execute(select(Material.code, Material.name).where(Material.code.in_(codes)))
        names = {str(row[0]): str(row[1]) for row in rows}
        signatures = {
            d.id: esign.manifestations(session, recipes.DECISION_TYPE, str(d.id)) for d in version.decisions
        }
        review_open = (
            recipes.valid_decision(session, version, "reviewed") if version.status == "in_review" else None
        )
        others = [v for v in version.recipe.versions if v.id != version.id]
        return _render(
            request, "mes/recipe_version.html", status_code=status_code, version=version,
            recipe=version.recipe, body=body, tree=_tree(body), material_names=names,
            sops=recipes.sop_versions(session, recipes.sop_numbers(body)), signatures=signatures,
            reviewed=review_open, authors=recipes.authors(version), others=others,
            trail=_trail(session, version), ask_login=first_signature_pending(session, principal),
            done=request.query_params.get("done"), error=values.pop("error", None) or request.query_params.get("error"),
            **values,
        )  # fmt: skip


@router.get("/recipes/{code}/v/{number}", response_class=HTMLResponse)
def version_page(request: Request, db: DbDep, principal: RecipeView, code: str, number: int) -> Response:
    return _version_page(request, db, principal, code, number)


@router.get("/recipes/{code}/v/{number}/bom", response_class=HTMLResponse)
def bom_page(
    request: Request, db: DbDep, principal: RecipeView, code: str, number: int, batch_size: str = ""
) -> Response:
    """The version's page with its BOM scaled to another batch size."""
    try:
        size = Decimal(batch_size)
        if not size.is_finite() or size <= 0:
            raise InvalidOperation
    except InvalidOperation:
        return _version_page(request, db, principal, code, number, 422,
                             error=i18n.gettext(N_("The batch size must be greater than zero")))  # fmt: skip
    with db.sessions() as session:
        scaled = recipes.scaled_bom(recipes.version_of(session, code, number), size)
    return _version_page(request, db, principal, code, number, scaled=scaled)


@router.get("/recipes/{code}/diff", response_class=HTMLResponse)
def diff_page(request: Request, db: DbDep, principal: RecipeView, code: str, old: int, new: int) -> Response:
    with db.sessions() as session:
        changes = recipes.diff(recipes.version_of(session, code, old), recipes.version_of(session, code, new))
    return _render(request, "mes/recipe_diff.html", diff=changes)


# --- lifecycle forms -----------------------------------------------------------------------------------


def _act(db: DbDep, principal: Principal, version_id: int, write: Any, reason: str | None = None) -> Response:
    with db.sessions() as session:
        url = _version_url(recipes.get_version(session, version_id))
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            result = write(uow)
            uow.commit()
            if isinstance(result, MasterRecipeVersion):
                url = _version_url(result)
    except PharmaTraceError as error:
        return _back(url, error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("Saved")))


def _reason(data: dict[str, Any]) -> str | None:
    reason = str(data.get("reason", "")).strip()
    return reason if len(reason) >= 2 else None


@router.post("/recipe-versions/{version_id}/submit", response_class=HTMLResponse)
async def submit(db: DbDep, principal: RecipeAuthor, version_id: int) -> Response:
    return _act(db, principal, version_id, lambda uow: recipes.submit(uow, version_id))


@router.post("/recipe-versions/{version_id}/review", response_class=HTMLResponse)
async def review(request: Request, db: DbDep, principal: RecipeReview, version_id: int) -> Response:
    data = await form_data(request)
    return _act(db, principal, version_id, lambda uow: recipes.review(
        uow, principal, version_id, password=str(data.get("password", "")), login=data.get("login") or None,
        comment=str(data.get("comment", ""))[:500]))  # fmt: skip


@router.post("/recipe-versions/{version_id}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: RecipeApprove, version_id: int) -> Response:
    data = await form_data(request)
    return _act(db, principal, version_id, lambda uow: recipes.approve(
        uow, principal, version_id, password=str(data.get("password", "")), login=data.get("login") or None,
        comment=str(data.get("comment", ""))[:500]))  # fmt: skip


@router.post("/recipe-versions/{version_id}/return", response_class=HTMLResponse)
async def return_to_draft(request: Request, db: DbDep, principal: RecipeReview, version_id: int) -> Response:
    data = await form_data(request)
    return _act(db, principal, version_id, lambda uow: recipes.return_to_draft(uow, principal, version_id),
                _reason(data))  # fmt: skip


@router.post("/recipe-versions/{version_id}/withdraw", response_class=HTMLResponse)
async def withdraw(request: Request, db: DbDep, principal: RecipeApprove, version_id: int) -> Response:
    data = await form_data(request)
    return _act(
        db, principal, version_id, lambda uow: recipes.withdraw(uow, principal, version_id), _reason(data)
    )


@router.post("/recipes/{code}/new-version", response_class=HTMLResponse)
async def new_version(request: Request, db: DbDep, principal: RecipeAuthor, code: str) -> Response:
    data = await form_data(request)
    summary = str(data.get("change_summary", "")).strip()
    with db.sessions() as session:
        recipe = recipes.recipe_by_code(session, code)
        url = _version_url(recipe.versions[-1])
    if len(summary) < 2:
        return _back(url, error=i18n.gettext(N_("Say what the new version changes")))
    try:
        with UnitOfWork(db, principal.actor) as uow:
            version = recipes.new_version(uow, code, summary[:500])
            uow.commit()
            url = _version_url(version)
    except PharmaTraceError as error:
        return _back(url, error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("New draft version created")))


@router.post("/recipe-versions/{version_id}/body", response_class=HTMLResponse)
async def replace_body(request: Request, db: DbDep, principal: RecipeAuthor, version_id: int) -> Response:
    """A draft's body replaced by an uploaded file, with the reason."""
    body, fields, problem = await _uploaded_body(request)
    with db.sessions() as session:
        url = _version_url(recipes.get_version(session, version_id))
    if body is None:
        return _back(url, error=problem or "")
    reason = _reason(fields)
    if reason is None:
        return _back(url, error=i18n.gettext(N_("A reason is required for this change")))
    return _act(db, principal, version_id, lambda uow: recipes.replace_body(uow, version_id, body), reason)
