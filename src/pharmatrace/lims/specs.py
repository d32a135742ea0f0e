"""Specifications: authoring, versions, approval by signature, and what the laboratory reads (TJ-7.2, SH-6.2.3).

* A specification is created with version 1 as a draft. Only a draft is edited — its header, materials and test
  items, by holders of ``lims.spec.author``; every change is in the audit trail and re-hashes the version's
  canonical content (:func:`canonical_content`, SM3 in ``content_sm3``).
* Submitted, it waits for approval: an electronic signature (meaning "approved", action ``lims.spec.approve``)
  by a holder of ``lims.spec.approve`` who did not write it (segregation of duties, SH-7.1.4). The signature is
  given on a decision row naming the content hash (like master recipes, ADR 0014). Approval makes the version
  the effective one and supersedes the one before. The approver may instead return it to draft, with a reason.
* Every refusal (wrong status, author approving, unknown or unsuitable material, document not effective, bad
  limits) raises a typed error and changes nothing.
* What the results area reads: :func:`effective_specs` (the approved specifications of a material, by
  purpose), :func:`effective_version`, and :func:`measure` (compute, round once, judge; :mod:`.judgement`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.audit import AuditEntry
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import judgement
from pharmatrace.lims.specs_models import (
    CATEGORY_KINDS,
    OPEN_STATUSES,
    Specification,
    SpecificationDecision,
    SpecificationItem,
    SpecificationMaterial,
    SpecificationVersion,
)
from pharmatrace.lims.specs_schemas import (
    DecisionPublic,
    DraftReplace,
    HeaderUpdate,
    ItemIn,
    ItemPublic,
    Measurement,
    RawInputPublic,
    SignaturePublic,
    SpecContent,
    SpecHeader,
    SpecificationCreate,
    SpecificationDetail,
    SpecificationPublic,
    VerdictPublic,
    VersionDetail,
    VersionPublic,
)
from pharmatrace.wms.models import Material

AUTHOR_PERMISSION = "lims.spec.author"
APPROVE_PERMISSION = "lims.spec.approve"
APPROVE_ACTION = "lims.spec.approve"  # the signable action (kernel/esign/policy.py)
DECISION_TYPE = "lims_spec_decision"
DRAFT_EDITED = "specification draft edited"

STATUS_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved"),
    "superseded": N_("Superseded"),
}
CATEGORY_LABELS = {
    "herb": N_("Herbal material"),
    "decoction_piece": N_("Decoction piece"),
    "excipient": N_("Excipient"),
    "primary_packaging": N_("Primary packaging material"),
    "secondary_packaging": N_("Secondary packaging material"),
    "intermediate": N_("Intermediate"),
    "bulk": N_("Bulk product"),
    "finished_product": N_("Finished product"),
}
STANDARD_KIND_LABELS = {"pharmacopoeia": N_("Pharmacopoeia"), "in_house": N_("In-house")}
PURPOSE_LABELS = {
    "release": N_("Release"),
    "shelf_life": N_("Shelf life"),
    "both": N_("Release and shelf life"),
}
LIMIT_LABELS = {
    "range": N_("Range"),
    "le": N_("Not more than (≤)"),
    "ge": N_("Not less than (≥)"),
    "lt": N_("Less than (<)"),
    "gt": N_("More than (>)"),
    "conforms": N_("Conforms / does not conform"),
    "text": N_("Descriptive (judged by the reviewer)"),
}
ROUNDING_LABELS = {"gbt8170": N_("GB/T 8170, rounded once"), "none": N_("Not rounded")}
DECISION_LABELS = {"approved": N_("Approved"), "returned": N_("Returned to draft")}
OUTCOME_LABELS = {"pass": N_("Pass"), "fail": N_("Fail"), "review": N_("Judged by the reviewer")}


class SpecInvalid(ValidationFailed):
    """A specification that breaks a rule needing the plant (materials, documents); the message names it."""

    code = "spec_invalid"


class DutiesNotSegregated(NotPermitted):
    """Who wrote a specification version may not approve it (SH-7.1.4, TJ-7.2)."""

    code = "spec_duties"


# --- finding -------------------------------------------------------------------------------------------


def find_specification(session: Session, code: str) -> Specification | None:
    found = session.scalar(select(Specification).where(Specification.code == code.strip().upper()))
    return None if found is None or found.voided_at is not None else found


def get_specification(session: Session, code: str) -> Specification:
    found = find_specification(session, code)
    if found is None:
        raise NotFound(N_("No specification {code}"), code=code)
    return found


def get_version(session: Session, version_id: int) -> SpecificationVersion:
    version = session.get(SpecificationVersion, version_id)
    if version is None:
        raise NotFound(N_("No specification version {id}"), id=version_id)
    return version


def version_of(session: Session, code: str, number: int) -> SpecificationVersion:
    spec = get_specification(session, code)
    for version in spec.versions:
        if version.version == number:
            return version
    raise NotFound(N_("No version {version} of specification {code}"), version=number, code=spec.code)


def get_item(session: Session, item_id: int) -> SpecificationItem:
    item = session.get(SpecificationItem, item_id)
    if item is None or item.voided_at is not None:
        raise NotFound(N_("No test item {id}"), id=item_id)
    return item


def effective_version(session: Session, spec_code: str) -> SpecificationVersion | None:
    """The approved version of a specification now in force, or None (TJ-7.2)."""
    spec = find_specification(session, spec_code)
    if spec is None:
        return None
    return next((v for v in spec.versions if v.status == "approved"), None)


def effective_specs(
    session: Session, material_code: str, purpose: str | None = None
) -> list[SpecificationVersion]:
    """The effective (approved) specification versions that apply to a material, by specification code.

    ``purpose`` ``release`` or ``shelf_life`` keeps those for that purpose (a ``both`` specification serves
    either); None keeps all. A material may have several: pharmacopoeia and in-house, release and shelf life.
    """
    if purpose not in (None, "release", "shelf_life"):
        raise ValidationFailed(N_("The purpose is “release” or “shelf_life”"))
    query = (
        select(SpecificationVersion)
        .join(SpecificationMaterial, SpecificationMaterial.version_id == SpecificationVersion.id)
        .join(Specification, Specification.id == SpecificationVersion.specification_id)
        .where(
            SpecificationVersion.status == "approved",
            SpecificationMaterial.voided_at.is_(None),
            SpecificationMaterial.material_code == material_code.strip().upper(),
            Specification.voided_at.is_(None),
        )
        .order_by(Specification.code)
    )
    if purpose is not None:
        query = query.where(SpecificationVersion.purpose.in_((purpose, "both")))
    return list(session.scalars(query).unique())


def list_specifications(
    session: Session, *, text: str = "", category: str = "", material: str = "", status: str = ""
) -> list[Specification]:
    """Specifications (not void) whose code or latest title matches ``text``, of ``category``, that apply to
    ``material`` in some version, with a version in ``status``."""
    query = select(Specification).where(Specification.voided_at.is_(None)).order_by(Specification.code)
    if category:
        query = query.where(Specification.category == category)
    if status:
        query = query.where(
            Specification.id.in_(
                select(SpecificationVersion.specification_id).where(SpecificationVersion.status == status)
            )
        )
    if material.strip():
        query = query.where(
            Specification.id.in_(
                select(SpecificationVersion.specification_id)
                .join(SpecificationMaterial, SpecificationMaterial.version_id == SpecificationVersion.id)
                .where(
                    SpecificationMaterial.material_code == material.strip().upper(),
                    SpecificationMaterial.voided_at.is_(None),
                )
            )
        )
    found = [s for s in session.scalars(query).unique() if s.versions]
    needle = text.strip().lower()
    if needle:
        found = [s for s in found if needle in s.code.lower() or needle in s.versions[-1].title.lower()]
    return found


# --- the canonical content -----------------------------------------------------------------------------


def raw_inputs_of(item: SpecificationItem) -> list[dict[str, str]]:
    loaded = json.loads(item.raw_inputs or "[]")
    assert isinstance(loaded, list)
    return loaded


def _number(value: Decimal | None) -> str | None:
    return plain_number(value)


def _row_data(row: SpecificationItem) -> dict[str, Any]:
    return {
        "position": row.position, "name": row.name, "method": row.method, "method_sop": row.method_sop,
        "unit": row.unit, "limit_type": row.limit_type, "lower": _number(row.lower), "upper": _number(row.upper),
        "requirement": row.requirement, "decimals": row.decimals, "rounding": row.rounding, "formula": row.formula,
        "raw_inputs": raw_inputs_of(row),
    }  # fmt: skip


def _input_data(item: ItemIn, position: int) -> dict[str, Any]:
    """An item as its row will hold it (limits at the stored scale), without writing the row."""
    row = SpecificationItem()
    _set_item(row, item, position)
    return _row_data(row)


def _content(
    spec: Specification, version: SpecificationVersion, materials: Iterable[str], items: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "code": spec.code, "category": spec.category, "version": version.version, "title": version.title,
        "basis": version.basis, "standard_kind": version.standard_kind, "purpose": version.purpose,
        "document_number": version.document_number, "change_summary": version.change_summary,
        "materials": sorted(materials), "items": items,
    }  # fmt: skip


def content_of(version: SpecificationVersion) -> dict[str, Any]:
    """What the version says, as plain data: the header, the materials, the active items in order."""
    return _content(version.specification, version, [m.material_code for m in version.materials],
                    [_row_data(i) for i in version.items])  # fmt: skip


def canonical_content(version: SpecificationVersion) -> str:
    """The content as canonical JSON (sorted keys, no spaces): what ``content_sm3`` hashes and approval signs."""
    return ledger.canonical_text(content_of(version))


def content_hash(text: str) -> str:
    return crypto.sm3(text.encode()).hex()


def _fresh(session: Session, version: SpecificationVersion) -> SpecificationVersion:
    session.flush()
    session.expire(version, ["items", "materials"])
    return version


def _rehash(session: Session, version: SpecificationVersion) -> str:
    return content_hash(canonical_content(_fresh(session, version)))


# --- checks that need the plant ------------------------------------------------------------------------


def _check_document(session: Session, number: str | None, item: str | None = None) -> None:
    """A cited controlled document must have an effective version now (documents' own contract, TJ-6.1)."""
    if number is None:
        return
    from pharmatrace.documents.service import current_effective

    if current_effective(session, number) is not None:
        return
    if item is None:
        raise SpecInvalid(N_("Document {number} has no effective version"), number=number)
    raise SpecInvalid(N_("Test item {name}: document {number} has no effective version"), name=item,
                      number=number)  # fmt: skip


def _materials(session: Session, codes: Sequence[str], category: str) -> list[Material]:
    """The materials named, each existing, not void, and of a kind the category covers."""
    rows = {m.code: m for m in session.scalars(select(Material).where(Material.code.in_(list(codes))))}
    found = []
    for code in codes:
        material = rows.get(code)
        if material is None or material.voided_at is not None:
            raise SpecInvalid(N_("There is no usable material {code}"), code=code)
        if material.kind not in CATEGORY_KINDS[category]:
            raise SpecInvalid(
                N_("Material {code} is not of a kind a specification for “{category}” applies to"),
                code=code, category=Msgid(CATEGORY_LABELS[category]),
            )  # fmt: skip
        found.append(material)
    return found


def _check_plant(session: Session, spec: Specification, header: SpecHeader, items: Iterable[ItemIn]) -> None:
    _materials(session, header.material_codes, spec.category)
    _check_document(session, header.document_number)
    for item in items:
        _check_document(session, item.method_sop, item.name)


def _check_stored(session: Session, version: SpecificationVersion) -> None:
    """The same checks on what a version holds (at submission: the plant may have changed)."""
    _materials(session, [m.material_code for m in version.materials], version.specification.category)
    _check_document(session, version.document_number)
    for item in version.items:
        _check_document(session, item.method_sop, item.name)


# --- writing -------------------------------------------------------------------------------------------


def _set_header(version: SpecificationVersion, header: SpecHeader) -> None:
    version.title = header.title
    version.basis = header.basis
    version.standard_kind = header.standard_kind
    version.purpose = header.purpose
    version.document_number = header.document_number
    version.change_summary = header.change_summary


def _set_item(row: SpecificationItem, item: ItemIn, position: int) -> None:
    row.position = position
    row.name = item.name
    row.method = item.method
    row.method_sop = item.method_sop
    row.unit = item.unit
    row.limit_type = item.limit_type
    row.lower = item.lower
    row.upper = item.upper
    row.requirement = item.requirement
    row.decimals = item.decimals
    row.rounding = item.rounding
    row.formula = item.formula
    row.raw_inputs = ledger.canonical_text([r.model_dump() for r in item.raw_inputs])


def _set_materials(session: Session, version: SpecificationVersion, materials: Sequence[Material]) -> None:
    wanted = {m.id: m for m in materials}
    now = clock.now()
    for row in version.materials:
        if row.material_id not in wanted:
            row.voided_at = now
    held = {row.material_id for row in version.materials}
    for material in materials:
        if material.id not in held:
            session.add(SpecificationMaterial(version_id=version.id, material_id=material.id,
                                              material_code=material.code))  # fmt: skip


def _set_items(session: Session, version: SpecificationVersion, items: Sequence[ItemIn]) -> None:
    """Items matched by name: changed in place, added, or voided (every step in the trail)."""
    held = {row.name: row for row in version.items}
    wanted = {item.name for item in items}
    now = clock.now()
    for name, row in held.items():
        if name not in wanted:
            row.voided_at = now
    session.flush()  # a name freed by a void may be taken again below
    for position, item in enumerate(items, start=1):
        kept = held.get(item.name)
        row = kept if kept is not None else SpecificationItem(version_id=version.id)
        if kept is None:
            session.add(row)
        _set_item(row, item, position)


def _draft(session: Session, version_id: int) -> SpecificationVersion:
    version = get_version(session, version_id)
    if version.status != "draft":
        raise Conflict(N_("Only a draft version of a specification can be changed"))
    return version


def _edited(uow: UnitOfWork, version: SpecificationVersion, before: str) -> SpecificationVersion:
    """Re-hash after an edit; refused when nothing changed (an empty edit is no record)."""
    after = _rehash(uow.session, version)
    if after == before:
        raise Conflict(N_("Nothing was changed"))
    version.content_sm3 = after
    version.edited_at = clock.now()
    version.edited_by = uow.actor.login
    uow.session.flush()
    return version


def create_specification(
    uow: UnitOfWork, principal: Principal, body: SpecificationCreate
) -> SpecificationVersion:
    """A new specification with version 1 as a draft (its items may follow, or come with it)."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    if session.scalar(select(Specification.id).where(Specification.code == body.code)) is not None:
        raise Conflict(N_("Specification {code} already exists"), code=body.code)
    now = clock.now()
    spec = Specification(code=body.code, category=body.category, created_at=now, created_by=uow.actor.login)
    _check_plant(session, spec, body, body.items)
    materials = _materials(session, body.material_codes, spec.category)
    version = SpecificationVersion(version=1, status="draft", created_at=now, created_by=uow.actor.login)
    _set_header(version, body)
    # The hash of what the rows will hold, set before the first write: creating is one audited "create".
    planned = _content(spec, version, body.material_codes,
                       [_input_data(item, n) for n, item in enumerate(body.items, start=1)])  # fmt: skip
    version.content_sm3 = content_hash(ledger.canonical_text(planned))
    session.add(spec)
    session.flush()
    version.specification_id = spec.id
    session.add(version)
    session.flush()
    _set_materials(session, version, materials)
    _set_items(session, version, body.items)
    _check_hash(_fresh(session, version))
    return version


def new_version(
    uow: UnitOfWork, principal: Principal, code: str, change_summary: str
) -> SpecificationVersion:
    """The next version: a draft copy of the latest one (whatever its status). One open version at a time."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    spec = get_specification(session, code)
    if any(v.status in OPEN_STATUSES for v in spec.versions):
        raise Conflict(N_("Specification {code} already has a version in draft or in review"), code=spec.code)
    latest = spec.versions[-1]
    version = SpecificationVersion(
        specification_id=spec.id, version=latest.version + 1, status="draft", title=latest.title,
        basis=latest.basis, standard_kind=latest.standard_kind, purpose=latest.purpose,
        document_number=latest.document_number, change_summary=change_summary, created_at=clock.now(),
        created_by=uow.actor.login,
    )  # fmt: skip
    planned = _content(spec, version, [m.material_code for m in latest.materials],
                       [_row_data(i) for i in latest.items])  # fmt: skip
    version.content_sm3 = content_hash(ledger.canonical_text(planned))
    session.add(version)
    session.flush()
    for material in latest.materials:
        session.add(SpecificationMaterial(version_id=version.id, material_id=material.material_id,
                                          material_code=material.material_code))  # fmt: skip
    for item in latest.items:
        session.add(SpecificationItem(
            version_id=version.id, position=item.position, name=item.name, method=item.method,
            method_sop=item.method_sop, unit=item.unit, limit_type=item.limit_type, lower=item.lower,
            upper=item.upper, requirement=item.requirement, decimals=item.decimals, rounding=item.rounding,
            formula=item.formula, raw_inputs=item.raw_inputs,
        ))  # fmt: skip
    _check_hash(_fresh(session, version))
    session.expire(spec, ["versions"])
    return version


def replace_draft(
    uow: UnitOfWork, principal: Principal, version_id: int, body: DraftReplace
) -> SpecificationVersion:
    """A draft's whole content replaced: header, materials, items (matched by name)."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    version = _draft(session, version_id)
    _check_plant(session, version.specification, body, body.items)
    uow.reason = uow.reason or body.reason or DRAFT_EDITED
    before = version.content_sm3
    _set_header(version, body)
    _set_materials(session, version, _materials(session, body.material_codes, version.specification.category))
    _set_items(session, version, body.items)
    return _edited(uow, version, before)


def update_header(
    uow: UnitOfWork, principal: Principal, version_id: int, body: HeaderUpdate
) -> SpecificationVersion:
    """A draft's header and materials changed; its items stay."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    version = _draft(session, version_id)
    _check_plant(session, version.specification, body, [])
    uow.reason = uow.reason or body.reason or DRAFT_EDITED
    before = version.content_sm3
    _set_header(version, body)
    _set_materials(session, version, _materials(session, body.material_codes, version.specification.category))
    return _edited(uow, version, before)


def _item_names(version: SpecificationVersion, but: int | None = None) -> set[str]:
    return {i.name for i in version.items if i.id != but}


def add_item(uow: UnitOfWork, principal: Principal, version_id: int, item: ItemIn) -> SpecificationItem:
    """A test item added at the end of a draft."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    version = _draft(session, version_id)
    if item.name in _item_names(version):
        raise Conflict(N_("Test item {name} is already in this version"), name=item.name)
    _check_document(session, item.method_sop, item.name)
    uow.reason = uow.reason or DRAFT_EDITED
    before = version.content_sm3
    row = SpecificationItem(version_id=version.id)
    _set_item(row, item, max((i.position for i in version.items), default=0) + 1)
    session.add(row)
    _edited(uow, version, before)
    return row


def update_item(uow: UnitOfWork, principal: Principal, item_id: int, item: ItemIn) -> SpecificationItem:
    """A draft's test item changed in place (it keeps its place in the list)."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    row = get_item(session, item_id)
    version = _draft(session, row.version_id)
    if item.name in _item_names(version, but=row.id):
        raise Conflict(N_("Test item {name} is already in this version"), name=item.name)
    _check_document(session, item.method_sop, item.name)
    uow.reason = uow.reason or DRAFT_EDITED
    before = version.content_sm3
    _set_item(row, item, row.position)
    _edited(uow, version, before)
    return row


def remove_item(uow: UnitOfWork, principal: Principal, item_id: int) -> SpecificationVersion:
    """A draft's test item removed: voided, with the unit of work's reason; the items after it move up."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    row = get_item(session, item_id)
    version = _draft(session, row.version_id)
    uow.reason = uow.reason or DRAFT_EDITED
    before = version.content_sm3
    row.voided_at = clock.now()
    for position, kept in enumerate((i for i in version.items if i.id != row.id), start=1):
        kept.position = position
    return _edited(uow, version, before)


def submit(uow: UnitOfWork, principal: Principal, version_id: int) -> SpecificationVersion:
    """A draft goes for approval: it needs a test item, and its materials and documents are checked again."""
    principal.require(AUTHOR_PERMISSION)
    session = uow.session
    version = get_version(session, version_id)
    if version.status != "draft":
        raise Conflict(N_("Only a draft can be submitted for approval"))
    if not version.items:
        raise Conflict(N_("A specification version needs at least one test item"))
    _check_stored(session, version)
    _check_hash(version)
    uow.reason = uow.reason or "specification version submitted for approval"
    version.status = "in_review"
    version.submitted_at = clock.now()
    version.submitted_by = uow.actor.login
    session.flush()
    return version


def authors(session: Session, version: SpecificationVersion) -> set[str]:
    """Who wrote the version: its creator, its submitter, and everyone whose change altered its content hash
    (read from the audit trail, so an earlier editor counts as much as the last one)."""
    found = {version.created_by, *([version.submitted_by] if version.submitted_by else [])}
    entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.object_type == SpecificationVersion.__audit_type__,
            AuditEntry.object_id == str(version.id),
        )
    )
    found |= {e.actor_login for e in entries if "content_sm3" in (e.changes or {})}
    return found


def _check_hash(version: SpecificationVersion) -> None:
    if content_hash(canonical_content(version)) != version.content_sm3:
        raise Conflict(N_("The content of specification version {version} does not match its hash"),
                       version=version.version)  # fmt: skip


def _decision(
    principal: Principal, version: SpecificationVersion, kind: str, comment: str
) -> SpecificationDecision:
    """The decision row, not yet added."""
    return SpecificationDecision(
        version_id=version.id, kind=kind, content_sm3=version.content_sm3, decided_at=clock.now(),
        decided_by=principal.login, decided_by_name=principal.full_name, comment=comment,
    )  # fmt: skip


def approve(
    uow: UnitOfWork, principal: Principal, version_id: int, *, password: str, login: str | None = None,
    comment: str = "",
) -> SpecificationDecision:  # fmt: skip
    """The approval signature: the version becomes effective, the effective one before it is superseded."""
    principal.require(APPROVE_PERMISSION)
    session = uow.session
    version = get_version(session, version_id)
    if version.status != "in_review":
        raise Conflict(N_("Only a version in review can be approved or returned"))
    if principal.login in authors(session, version):
        raise DutiesNotSegregated(N_("The author of a specification version cannot approve it"))
    _check_hash(version)
    esign.authenticate_signer(uow.db, principal, password, login)
    uow.reason = uow.reason or "specification version approved"
    moment = clock.now()
    previous = effective_version(session, version.specification.code)
    if previous is not None:
        previous.status = "superseded"
        previous.superseded_at = moment
        session.flush()  # the one-approved-per-specification index sees the old one go first
    version.status = "approved"
    version.approved_at = moment
    version.approved_by = principal.login
    session.flush()
    decision = _decision(principal, version, "approved", comment)
    esign.add_signed_decision(
        uow, principal, decision, action_code=APPROVE_ACTION, password=password, login=login
    )
    session.refresh(version, ["decisions"])
    return decision


def return_to_draft(uow: UnitOfWork, principal: Principal, version_id: int) -> SpecificationDecision:
    """The approver sends a version in review back to its authors; the unit of work carries the reason."""
    principal.require(APPROVE_PERMISSION)
    version = get_version(uow.session, version_id)
    if version.status != "in_review":
        raise Conflict(N_("Only a version in review can be approved or returned"))
    if uow.reason is None:
        raise ValidationFailed(N_("A reason is required for this change"))
    decision = _decision(principal, version, "returned", uow.reason)
    uow.session.add(decision)
    uow.session.flush()
    version.status = "draft"
    uow.session.flush()
    uow.session.refresh(version, ["decisions"])
    return decision


# --- judging -------------------------------------------------------------------------------------------


def measure(item: SpecificationItem, given: Measurement) -> VerdictPublic:
    """A result judged against an item: computed from the raw inputs by the item's formula (or taken as
    given), rounded once (GB/T 8170), compared by the rounded-value method; conforms and text items by
    their answer (TJ-7.2, TJ-7.3)."""
    computed = reported = None
    if item.limit_type in judgement.NUMERIC_LIMITS:
        if given.raws:
            if not item.formula:
                raise ValidationFailed(N_("This test item has no formula: give the result"))
            computed = judgement.compute(item.formula, given.raws)
        elif given.value is not None:
            computed = given.value
        else:
            raise ValidationFailed(N_("Give the result, or the raw values of its formula"))
        reported = judgement.report_value(computed, item.decimals, item.rounding)
        verdict = judgement.judge(item, reported, item.requirement)
    elif item.limit_type == "conforms":
        if given.answer is None:
            raise ValidationFailed(N_("The result of this test is “conforms” or “does not conform”"))
        verdict = judgement.judge(item, given.answer, item.requirement)
    else:
        verdict = judgement.judge(item, given.text, item.requirement)
    return VerdictPublic(item_id=item.id, outcome=verdict.outcome, computed=computed, reported=reported,
                         limit=verdict.limit, reason=verdict.reason)  # fmt: skip


# --- reading -------------------------------------------------------------------------------------------


def item_public(item: SpecificationItem) -> ItemPublic:
    return ItemPublic(
        id=item.id, position=item.position, name=item.name, method=item.method, method_sop=item.method_sop,
        unit=item.unit, limit_type=item.limit_type, lower=item.lower, upper=item.upper,
        limit=judgement.limit_text(item, item.requirement), requirement=item.requirement, decimals=item.decimals,
        rounding=item.rounding, formula=item.formula,
        raw_inputs=[RawInputPublic(**raw) for raw in raw_inputs_of(item)],
    )  # fmt: skip


def item_in(item: SpecificationItem) -> ItemIn:
    """A stored item as the author's input (the editor's form, a copy)."""
    return ItemIn.model_validate({
        "name": item.name, "method": item.method, "method_sop": item.method_sop, "unit": item.unit,
        "limit_type": item.limit_type, "lower": _number(item.lower), "upper": _number(item.upper),
        "requirement": item.requirement, "decimals": item.decimals, "rounding": item.rounding,
        "formula": item.formula, "raw_inputs": raw_inputs_of(item),
    })  # fmt: skip


def content_in(version: SpecificationVersion) -> SpecContent:
    return SpecContent.model_validate({
        "title": version.title, "basis": version.basis, "standard_kind": version.standard_kind,
        "purpose": version.purpose, "document_number": version.document_number,
        "material_codes": [m.material_code for m in version.materials], "change_summary": version.change_summary,
        "items": [item_in(i) for i in version.items],
    })  # fmt: skip


def decision_public(session: Session, decision: SpecificationDecision) -> DecisionPublic:
    signatures = [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, DECISION_TYPE, str(decision.id))
    ]  # fmt: skip
    return DecisionPublic(
        id=decision.id, kind=decision.kind, content_sm3=decision.content_sm3, decided_at=decision.decided_at,
        decided_by=decision.decided_by, decided_by_name=decision.decided_by_name, comment=decision.comment,
        signatures=signatures,
    )  # fmt: skip


def version_public(version: SpecificationVersion) -> VersionPublic:
    spec = version.specification
    return VersionPublic(
        id=version.id, code=spec.code, category=spec.category, version=version.version, status=version.status,
        title=version.title, basis=version.basis, standard_kind=version.standard_kind, purpose=version.purpose,
        document_number=version.document_number, material_codes=[m.material_code for m in version.materials],
        change_summary=version.change_summary, content_sm3=version.content_sm3, created_at=version.created_at,
        created_by=version.created_by, edited_at=version.edited_at, edited_by=version.edited_by,
        submitted_at=version.submitted_at, submitted_by=version.submitted_by, approved_at=version.approved_at,
        approved_by=version.approved_by, superseded_at=version.superseded_at,
    )  # fmt: skip


def version_detail(session: Session, version: SpecificationVersion) -> VersionDetail:
    return VersionDetail(
        **version_public(version).model_dump(),
        items=[item_public(i) for i in version.items],
        decisions=[decision_public(session, d) for d in version.decisions],
    )


def specification_public(spec: Specification) -> SpecificationPublic:
    latest = spec.versions[-1]
    effective = next((v.version for v in spec.versions if v.status == "approved"), None)
    return SpecificationPublic(
        id=spec.id, code=spec.code, category=spec.category, title=latest.title,
        material_codes=[m.material_code for m in latest.materials], effective_version=effective,
        latest_version=latest.version, latest_status=latest.status, created_at=spec.created_at,
        created_by=spec.created_by,
    )  # fmt: skip


def specification_detail(spec: Specification) -> SpecificationDetail:
    return SpecificationDetail(
        **specification_public(spec).model_dump(), versions=[version_public(v) for v in spec.versions]
    )


def document_versions(session: Session, numbers: Iterable[str | None]) -> dict[str, str | None]:
    """Each cited document's effective version now, as text ("v2"), or None (shown on the pages)."""
    from pharmatrace.documents.service import current_effective

    found: dict[str, str | None] = {}
    for number in sorted({n for n in numbers if n}):
        current = current_effective(session, number)
        found[number] = f"v{current.version}" if current is not None else None
    return found
