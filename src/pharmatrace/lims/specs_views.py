"""Pages: specifications (质量标准, TJ-7.2, TJ-7.3). The list with filters and the form of a new one; a version's
page with its materials, test items (limits, decimals, rounding, formula and raw inputs), the versions, the
decisions with their signatures, a calculator that judges a value against an item, the audit trail and the forms
of its lifecycle; the draft editor, one form per test item, usable on a tablet."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, PharmaTraceError
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.policy import MEANINGS
from pharmatrace.kernel.esign.views import first_signature_pending
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import specs
from pharmatrace.lims.judgement import LIMIT_TYPES, ROUNDING_RULES
from pharmatrace.lims.specs_models import (
    CATEGORIES,
    PURPOSES,
    SPEC_STATUSES,
    STANDARD_KINDS,
    SpecificationItem,
    SpecificationMaterial,
    SpecificationVersion,
)
from pharmatrace.lims.specs_schemas import HeaderUpdate, ItemIn, ItemPublic, Measurement, SpecificationCreate
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.forms import form_data, validate
from pharmatrace.web.templating import render
from pharmatrace.wms.models import Material

router = APIRouter(prefix="/lims", include_in_schema=False)

SpecView = Annotated[Principal, Depends(Requires("lims.view"))]
SpecAuthor = Annotated[Principal, Depends(Requires("lims.spec.author"))]
SpecApprove = Annotated[Principal, Depends(Requires("lims.spec.approve"))]

LABELS = {"status": specs.STATUS_LABELS, "categories": specs.CATEGORY_LABELS,
          "standard_kinds": specs.STANDARD_KIND_LABELS, "purposes": specs.PURPOSE_LABELS,
          "limits": specs.LIMIT_LABELS, "rounding": specs.ROUNDING_LABELS, "decisions": specs.DECISION_LABELS,
          "outcomes": specs.OUTCOME_LABELS, "meanings": MEANINGS}  # fmt: skip
CHOICES = {"categories": CATEGORIES, "standard_kinds": STANDARD_KINDS, "purposes": PURPOSES,
           "limit_types": LIMIT_TYPES, "rounding": ROUNDING_RULES, "statuses": SPEC_STATUSES}  # fmt: skip
SEPARATORS = re.compile(r"[\s,，、;；]+")


def _render(request: Request, template: str, status_code: int = 200, **values: Any) -> Response:
    values.setdefault("data", {})
    values.setdefault("form", "")
    values.setdefault("verdict", None)
    values.setdefault("done", request.query_params.get("done"))
    values["error"] = values.get("error") or request.query_params.get("error")
    return render(request, template, status_code=status_code, labels=LABELS, choices=CHOICES, **values)


def _back(url: str, *, error: str | None = None, done: str | None = None) -> RedirectResponse:
    if error is not None:
        return RedirectResponse(f"{url}?error={quote(error)}", status_code=303)
    return RedirectResponse(f"{url}?done={quote(done or '')}", status_code=303)


def _version_url(version: SpecificationVersion) -> str:
    return f"/lims/specifications/{version.specification.code}/v/{version.version}"


def _codes(text: str) -> list[str]:
    return [code.upper() for code in SEPARATORS.split(text or "") if code]


def _header(data: dict[str, Any]) -> dict[str, Any]:
    values = dict(data)
    values["material_codes"] = _codes(str(data.get("material_codes", "")))
    return values


def _raw_inputs(text: str) -> list[dict[str, str]]:
    """``name | label | unit`` per line (the label and unit may be left out)."""
    rows = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in re.split(r"[|\t]", line)]
        rows.append({"name": parts[0], "label": parts[1] if len(parts) > 1 else "",
                     "unit": parts[2] if len(parts) > 2 else ""})  # fmt: skip
    return rows


def _item(data: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in data.items() if k not in ("raw_inputs", "reason")}
    values["raw_inputs"] = _raw_inputs(str(data.get("raw_inputs", "")))
    for key in ("lower", "upper", "method_sop"):
        if str(values.get(key, "")).strip() == "":
            values.pop(key, None)
    return values


def _values(item: ItemPublic) -> dict[str, str]:
    """A stored item as the editor's form shows it (text)."""
    return {
        "name": item.name, "limit_type": item.limit_type, "lower": plain_number(item.lower) or "",
        "upper": plain_number(item.upper) or "", "unit": item.unit, "decimals": str(item.decimals),
        "rounding": item.rounding, "requirement": item.requirement, "method": item.method,
        "method_sop": item.method_sop or "", "formula": item.formula,
        "raw_inputs": "\n".join(" | ".join((r.name, r.label, r.unit)) for r in item.raw_inputs),
    }  # fmt: skip


# --- the list ------------------------------------------------------------------------------------------


def _list(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    query = request.query_params
    category = query.get("category", "") if query.get("category", "") in CATEGORIES else ""
    status = query.get("status", "") if query.get("status", "") in SPEC_STATUSES else ""
    with db.sessions() as session:
        found = specs.list_specifications(session, text=query.get("q", ""), category=category,
                                          material=query.get("material", ""), status=status)  # fmt: skip
        rows = [specs.specification_public(s) for s in found]
        materials = list(
            session.scalars(select(Material).where(Material.voided_at.is_(None)).order_by(Material.code))
        )
    return _render(request, "lims/specs.html", status_code=status_code, rows=rows, q=query.get("q", ""),
                   category=category, status=status, material=query.get("material", ""), materials=materials,
                   **values)  # fmt: skip


@router.get("/specifications", response_class=HTMLResponse)
def specification_list(request: Request, db: DbDep, principal: SpecView) -> Response:
    """Specifications by code, title, category, material and status; the form of a new one for authors."""
    return _list(request, db)


@router.post("/specifications", response_class=HTMLResponse)
async def specification_create(request: Request, db: DbDep, principal: SpecAuthor) -> Response:
    data = await form_data(request)
    body, errors = validate(SpecificationCreate, _header(data))
    if body is None:
        return _list(request, db, 422, data=data, field_errors=errors, form="create",
                     error=next(iter(errors.values()), None))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor) as uow:
            version = specs.create_specification(uow, principal, body)
            uow.commit()
            url = _version_url(version) + "/edit"
    except PharmaTraceError as error:
        return _list(
            request, db, error.http_status, data=data, form="create", error=i18n.error_message(error)
        )
    return _back(url, done=i18n.gettext(N_("Created as a draft: add its test items")))


# --- a version -----------------------------------------------------------------------------------------


@router.get("/specifications/{code}", response_class=HTMLResponse)
def specification_page(db: DbDep, principal: SpecView, code: str) -> Response:
    """The effective version, or the latest when none is approved."""
    with db.sessions() as session:
        spec = specs.get_specification(session, code)
        version = specs.effective_version(session, spec.code) or spec.versions[-1]
        return RedirectResponse(_version_url(version), status_code=303)


def _trail(session: Session, version: SpecificationVersion) -> list[AuditEntry]:
    items = session.scalars(select(SpecificationItem.id).where(SpecificationItem.version_id == version.id))
    materials = session.scalars(
        select(SpecificationMaterial.id).where(SpecificationMaterial.version_id == version.id)
    )
    records = [("lims_specification", [version.specification_id]), ("lims_spec_version", [version.id]),
               ("lims_spec_item", list(items)), ("lims_spec_material", list(materials)),
               ("lims_spec_decision", [d.id for d in version.decisions])]  # fmt: skip
    conditions = [
        (AuditEntry.object_type == kind) & AuditEntry.object_id.in_([str(i) for i in ids])
        for kind, ids in records
        if ids
    ]
    return list(
        session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.leaf_index.desc()))
    )


def _version_page(
    request: Request, db: DbDep, principal: Principal, code: str, number: int, status_code: int = 200,
    template: str = "lims/specs_version.html", **values: Any,
) -> Response:  # fmt: skip
    with db.sessions() as session:
        version = specs.version_of(session, code, number)
        spec = version.specification
        codes = [m.material_code for m in version.materials]
        rows = session.execute(select(Material.code, Material.name).where(Material.code.in_(codes)))
        names = {str(row[0]): str(row[1]) for row in rows}
        cited = [version.document_number, *(i.method_sop for i in version.items)]
        items = [specs.item_public(i) for i in version.items]
        return _render(
            request, template, status_code=status_code, version=version, spec=spec, items=items,
            item_values={i.id: _values(i) for i in items}, material_names=names,
            documents=specs.document_versions(session, cited),
            signatures={d.id: esign.manifestations(session, specs.DECISION_TYPE, str(d.id))
                        for d in version.decisions},
            authors=specs.authors(session, version), trail=_trail(session, version),
            ask_login=first_signature_pending(session, principal), **values,
        )  # fmt: skip


@router.get("/specifications/{code}/v/{number}", response_class=HTMLResponse)
def version_page(request: Request, db: DbDep, principal: SpecView, code: str, number: int) -> Response:
    return _version_page(request, db, principal, code, number)


@router.get("/specifications/{code}/v/{number}/judge", response_class=HTMLResponse)
def judge_page(request: Request, db: DbDep, principal: SpecView, code: str, number: int) -> Response:
    """The version's page with one value judged: the result, or the raw inputs of the item's formula, computed
    at full precision, rounded once (GB/T 8170) and compared by the rounded-value method. Nothing is stored."""
    query = request.query_params
    try:
        item_id = int(query.get("item", ""))
    except ValueError:
        item_id = 0
    raws = {k[4:]: v for k, v in query.items() if k.startswith("raw_") and v.strip()}
    given: dict[str, Any] = {"raws": raws}
    for key in ("value", "answer", "text"):
        if query.get(key, "").strip():
            given[key] = query[key]
    body, errors = validate(Measurement, given)
    if body is None:
        return _version_page(request, db, principal, code, number, 422, judged=item_id,
                             error=next(iter(errors.values()), None))  # fmt: skip
    try:
        with db.sessions() as session:
            version = specs.version_of(session, code, number)
            item = next((i for i in version.items if i.id == item_id), None)
            if item is None:
                return _version_page(request, db, principal, code, number, 404, judged=item_id,
                                     error=i18n.gettext(N_("Choose a test item of this version")))  # fmt: skip
            verdict = specs.measure(item, body)
    except PharmaTraceError as error:
        return _version_page(request, db, principal, code, number, error.http_status, judged=item_id,
                             error=i18n.error_message(error))  # fmt: skip
    return _version_page(request, db, principal, code, number, verdict=verdict, judged=item_id, given=given)


@router.get("/specifications/{code}/v/{number}/edit", response_class=HTMLResponse)
def edit_page(request: Request, db: DbDep, principal: SpecAuthor, code: str, number: int) -> Response:
    """The draft editor: the header, then one form per test item and one to add an item."""
    with db.sessions() as session:
        version = specs.version_of(session, code, number)
        if version.status != "draft":
            return _back(_version_url(version), error=i18n.gettext(
                N_("Only a draft version of a specification can be changed")))  # fmt: skip
    return _version_page(request, db, principal, code, number, template="lims/specs_edit.html")


# --- writing -------------------------------------------------------------------------------------------


def _write(
    request: Request, db: DbDep, principal: Principal, version_id: int, form: str, data: dict[str, Any],
    write: Callable[[UnitOfWork], object], *, reason: str | None = None, errors: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """Write through the unit of work and go back to the editor; a refusal re-renders it with the form's input
    and the message (nothing was written)."""
    with db.sessions() as session:
        version = specs.get_version(session, version_id)
        code, number, url = version.specification.code, version.version, _version_url(version)
    if errors:
        return _version_page(request, db, principal, code, number, 422, template="lims/specs_edit.html",
                             data=data, field_errors=errors, form=form, error=next(iter(errors.values())))  # fmt: skip
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            write(uow)
            uow.commit()
    except PharmaTraceError as error:
        return _version_page(request, db, principal, code, number, error.http_status,
                             template="lims/specs_edit.html", data=data, form=form,
                             error=i18n.error_message(error))  # fmt: skip
    return _back(url + "/edit", done=i18n.gettext(N_("Saved")))


def _reason(data: dict[str, Any]) -> str | None:
    reason = str(data.get("reason", "")).strip()
    return reason if len(reason) >= 2 else None


@router.post("/spec-versions/{version_id}/header", response_class=HTMLResponse)
async def header(request: Request, db: DbDep, principal: SpecAuthor, version_id: int) -> Response:
    data = await form_data(request)
    values = _header(data)
    values.pop("reason", None)
    body, errors = validate(HeaderUpdate, values)
    return _write(request, db, principal, version_id, "header", data,
                  lambda uow: specs.update_header(uow, principal, version_id, body) if body else None,
                  reason=_reason(data), errors=errors)  # fmt: skip


@router.post("/spec-versions/{version_id}/items", response_class=HTMLResponse)
async def add_item(request: Request, db: DbDep, principal: SpecAuthor, version_id: int) -> Response:
    data = await form_data(request)
    body, errors = validate(ItemIn, _item(data))
    return _write(request, db, principal, version_id, "new", data,
                  lambda uow: specs.add_item(uow, principal, version_id, body) if body else None,
                  errors=errors)  # fmt: skip


def _version_of_item(db: DbDep, item_id: int) -> int:
    with db.sessions() as session:
        return specs.get_item(session, item_id).version_id


@router.post("/spec-items/{item_id}", response_class=HTMLResponse)
async def update_item(request: Request, db: DbDep, principal: SpecAuthor, item_id: int) -> Response:
    data = await form_data(request)
    body, errors = validate(ItemIn, _item(data))
    return _write(request, db, principal, _version_of_item(db, item_id), str(item_id), data,
                  lambda uow: specs.update_item(uow, principal, item_id, body) if body else None,
                  reason=_reason(data), errors=errors)  # fmt: skip


@router.post("/spec-items/{item_id}/remove", response_class=HTMLResponse)
async def remove_item(request: Request, db: DbDep, principal: SpecAuthor, item_id: int) -> Response:
    data = await form_data(request)
    reason = _reason(data)
    errors = {} if reason else {"reason": i18n.gettext(N_("A reason is required for this change"))}
    return _write(request, db, principal, _version_of_item(db, item_id), f"remove-{item_id}", data,
                  lambda uow: specs.remove_item(uow, principal, item_id), reason=reason, errors=errors)  # fmt: skip


def _act(db: DbDep, principal: Principal, version_id: int, write: Callable[[UnitOfWork], object],
         reason: str | None = None) -> Response:  # fmt: skip
    with db.sessions() as session:
        url = _version_url(specs.get_version(session, version_id))
    try:
        with UnitOfWork(db, principal.actor, reason=reason) as uow:
            result = write(uow)
            uow.commit()
            if isinstance(result, SpecificationVersion):
                url = _version_url(result)
    except PharmaTraceError as error:
        return _back(url, error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("Saved")))


@router.post("/spec-versions/{version_id}/submit", response_class=HTMLResponse)
async def submit(db: DbDep, principal: SpecAuthor, version_id: int) -> Response:
    return _act(db, principal, version_id, lambda uow: specs.submit(uow, principal, version_id))


@router.post("/spec-versions/{version_id}/approve", response_class=HTMLResponse)
async def approve(request: Request, db: DbDep, principal: SpecApprove, version_id: int) -> Response:
    data = await form_data(request)
    return _act(db, principal, version_id, lambda uow: specs.approve(
        uow, principal, version_id, password=str(data.get("password", "")), login=data.get("login") or None,
        comment=str(data.get("comment", ""))[:500]))  # fmt: skip


@router.post("/spec-versions/{version_id}/return", response_class=HTMLResponse)
async def return_to_draft(request: Request, db: DbDep, principal: SpecApprove, version_id: int) -> Response:
    data = await form_data(request)
    reason = _reason(data)
    if reason is None:
        with db.sessions() as session:
            url = _version_url(specs.get_version(session, version_id))
        return _back(url, error=i18n.gettext(N_("A reason is required for this change")))
    return _act(
        db, principal, version_id, lambda uow: specs.return_to_draft(uow, principal, version_id), reason
    )


@router.post("/specifications/{code}/new-version", response_class=HTMLResponse)
async def new_version(request: Request, db: DbDep, principal: SpecAuthor, code: str) -> Response:
    data = await form_data(request)
    summary = str(data.get("change_summary", "")).strip()
    with db.sessions() as session:
        url = _version_url(specs.get_specification(session, code).versions[-1])
    if len(summary) < 2:
        return _back(url, error=i18n.gettext(N_("Say what the new version changes")))
    try:
        with UnitOfWork(db, principal.actor) as uow:
            version = specs.new_version(uow, principal, code, summary[:500])
            uow.commit()
            url = _version_url(version) + "/edit"
    except PharmaTraceError as error:
        return _back(url, error=i18n.error_message(error))
    return _back(url, done=i18n.gettext(N_("New draft version created")))
