"""``/api/v1/lims/specifications``: quality standards, their versions and test items (TJ-7.2, TJ-7.3).

Reading needs ``lims.view``; authoring (create, edit a draft, new version, submit) ``lims.spec.author``;
approval (signed) and return to draft ``lims.spec.approve``. The service adds segregation of duties: whoever
wrote a version does not approve it. ``/lims/effective-specifications`` is what the laboratory tests against;
``/lims/spec-items/{id}/judge`` computes, rounds once and judges a value against one item (nothing is stored).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.lims import specs
from pharmatrace.lims.specs_schemas import (
    DecisionPublic,
    DraftReplace,
    Measurement,
    NewVersion,
    ReasonedDecision,
    SignedDecision,
    SpecificationCreate,
    SpecificationDetail,
    SpecificationPublic,
    VerdictPublic,
    VersionDetail,
    VersionPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["lims"])

SpecView = Annotated[Principal, Depends(Requires("lims.view"))]
SpecAuthor = Annotated[Principal, Depends(Requires("lims.spec.author"))]
SpecApprove = Annotated[Principal, Depends(Requires("lims.spec.approve"))]


@router.get("/lims/specifications", response_model=list[SpecificationPublic])
def list_specifications(
    db: DbDep, _: SpecView, q: str = "", category: str = "", material: str = "", status: str = ""
) -> list[SpecificationPublic]:
    """Specifications; ``q`` matches the code or title, ``material`` a material code they apply to, ``status``
    the status of one of their versions."""
    with db.sessions() as session:
        found = specs.list_specifications(
            session, text=q, category=category, material=material, status=status
        )
        return [specs.specification_public(s) for s in found]


@router.post("/lims/specifications", response_model=VersionDetail, status_code=201)
def create_specification(body: SpecificationCreate, db: DbDep, principal: SpecAuthor) -> VersionDetail:
    """A new specification, version 1 as a draft with the items given."""
    with uow_for(db, principal) as uow:
        version = specs.create_specification(uow, principal, body)
        uow.commit()
        return specs.version_detail(uow.session, version)


@router.get("/lims/effective-specifications", response_model=list[VersionDetail])
def effective_specifications(
    db: DbDep, _: SpecView, material: str, purpose: Literal["release", "shelf_life"] | None = None
) -> list[VersionDetail]:
    """The approved specifications a material is tested against (several: pharmacopoeia and in-house,
    release and shelf life), with their items."""
    with db.sessions() as session:
        return [specs.version_detail(session, v) for v in specs.effective_specs(session, material, purpose)]


@router.get("/lims/specifications/{code}", response_model=SpecificationDetail)
def get_specification(code: str, db: DbDep, _: SpecView) -> SpecificationDetail:
    """A specification with the history of its versions."""
    with db.sessions() as session:
        return specs.specification_detail(specs.get_specification(session, code))


@router.get("/lims/specifications/{code}/effective", response_model=VersionDetail)
def effective(code: str, db: DbDep, _: SpecView) -> VersionDetail:
    """The approved version in force (404 when none is)."""
    with db.sessions() as session:
        spec = specs.get_specification(session, code)
        version = specs.effective_version(session, spec.code)
        if version is None:
            raise NotFound(N_("Specification {code} has no approved version"), code=spec.code)
        return specs.version_detail(session, version)


@router.get("/lims/specifications/{code}/versions/{number}", response_model=VersionDetail)
def get_version(code: str, number: int, db: DbDep, _: SpecView) -> VersionDetail:
    """One version with its items, decisions and signatures."""
    with db.sessions() as session:
        return specs.version_detail(session, specs.version_of(session, code, number))


@router.post("/lims/specifications/{code}/versions", response_model=VersionDetail, status_code=201)
def new_version(code: str, body: NewVersion, db: DbDep, principal: SpecAuthor) -> VersionDetail:
    """The next version: a draft copy of the latest one."""
    with uow_for(db, principal) as uow:
        version = specs.new_version(uow, principal, code, body.change_summary)
        uow.commit()
        return specs.version_detail(uow.session, version)


@router.put("/lims/spec-versions/{version_id}", response_model=VersionDetail)
def replace_draft(version_id: int, body: DraftReplace, db: DbDep, principal: SpecAuthor) -> VersionDetail:
    """A draft's whole content replaced: header, materials and items (matched by name)."""
    with uow_for(db, principal, body.reason) as uow:
        version = specs.replace_draft(uow, principal, version_id, body)
        uow.commit()
        return specs.version_detail(uow.session, version)


@router.post("/lims/spec-versions/{version_id}/submit", response_model=VersionPublic)
def submit(version_id: int, db: DbDep, principal: SpecAuthor) -> VersionPublic:
    with uow_for(db, principal) as uow:
        version = specs.submit(uow, principal, version_id)
        uow.commit()
        return specs.version_public(version)


@router.post("/lims/spec-versions/{version_id}/approve", response_model=DecisionPublic, status_code=201)
def approve(version_id: int, body: SignedDecision, db: DbDep, principal: SpecApprove) -> DecisionPublic:
    """The approval signature (meaning "approved"); the password re-authenticates the signer."""
    with uow_for(db, principal) as uow:
        decision = specs.approve(uow, principal, version_id, password=body.password, login=body.login,
                                 comment=body.comment)  # fmt: skip
        uow.commit()
        return specs.decision_public(uow.session, decision)


@router.post("/lims/spec-versions/{version_id}/return", response_model=DecisionPublic, status_code=201)
def return_to_draft(
    version_id: int, body: ReasonedDecision, db: DbDep, principal: SpecApprove
) -> DecisionPublic:
    with uow_for(db, principal, body.reason) as uow:
        decision = specs.return_to_draft(uow, principal, version_id)
        uow.commit()
        return specs.decision_public(uow.session, decision)


@router.post("/lims/spec-items/{item_id}/judge", response_model=VerdictPublic)
def judge(item_id: int, body: Measurement, db: DbDep, _: SpecView) -> VerdictPublic:
    """A value (or the raw inputs of the item's formula) judged against a test item; nothing is recorded."""
    with db.sessions() as session:
        return specs.measure(specs.get_item(session, item_id), body)
