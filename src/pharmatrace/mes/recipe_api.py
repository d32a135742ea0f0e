"""``/api/v1/mes/recipes``: master recipes and their versions (TJ-6.4.3.1, TJ-6.1).

Reading needs ``mes.batch.view``; authoring (import, body, new version, submit) ``mes.recipe.author``;
the review signature ``mes.batch.review`` (as does a return to draft); approval and withdrawal
``mes.recipe.approve``. The service adds segregation of duties: author ≠ reviewer ≠ approver.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from pharmatrace.kernel.errors import N_, NotFound
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.mes import recipes
from pharmatrace.mes.recipe_schemas import (
    BodyReplace,
    DecisionPublic,
    NewVersion,
    ReasonedDecision,
    RecipeImport,
    RecipePublic,
    ScaledBom,
    SignedDecision,
    VersionDetail,
    VersionDiff,
    VersionPublic,
)
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["mes"])

RecipeView = Annotated[Principal, Depends(Requires("mes.batch.view"))]
RecipeAuthor = Annotated[Principal, Depends(Requires("mes.recipe.author"))]
RecipeReview = Annotated[Principal, Depends(Requires("mes.batch.review"))]
RecipeApprove = Annotated[Principal, Depends(Requires("mes.recipe.approve"))]


@router.get("/mes/recipes", response_model=list[RecipePublic])
def list_recipes(
    db: DbDep, _: RecipeView, q: str = "", status: str = "", product: str = ""
) -> list[RecipePublic]:
    """Master recipes; ``q`` matches the recipe or product code or name, ``status`` a version's status."""
    with db.sessions() as session:
        found = recipes.list_recipes(session, text=q, status=status, product=product)
        return [recipes.recipe_public(r) for r in found]


@router.post("/mes/recipes/import", response_model=VersionDetail, status_code=201)
def import_recipe(body: RecipeImport, db: DbDep, principal: RecipeAuthor) -> VersionDetail:
    """A draft from an import file's content: a new recipe, or the next version of one."""
    with uow_for(db, principal) as uow:
        version = recipes.import_draft(uow, body.body, body.change_summary)
        uow.commit()
        return recipes.version_detail(version)


@router.get("/mes/recipes/{code}", response_model=list[VersionPublic])
def recipe_versions(code: str, db: DbDep, _: RecipeView) -> list[VersionPublic]:
    """Every version of a master recipe, oldest first."""
    with db.sessions() as session:
        return [recipes.version_public(v) for v in recipes.recipe_by_code(session, code).versions]


@router.post("/mes/recipes/{code}/versions", response_model=VersionDetail, status_code=201)
def new_version(code: str, body: NewVersion, db: DbDep, principal: RecipeAuthor) -> VersionDetail:
    """The next version: a draft copy of the latest one."""
    with uow_for(db, principal) as uow:
        version = recipes.new_version(uow, code, body.change_summary)
        uow.commit()
        return recipes.version_detail(version)


@router.get("/mes/recipes/{code}/usable", response_model=VersionDetail)
def usable(code: str, db: DbDep, _: RecipeView) -> VersionDetail:
    """The approved version a new batch uses (404 when none is approved)."""
    with db.sessions() as session:
        recipe = recipes.recipe_by_code(session, code)
        version = recipes.usable_version(session, recipe.code)
        if version is None:
            raise NotFound(N_("Master recipe {code} has no approved version"), code=recipe.code)
        return recipes.version_detail(version)


@router.get("/mes/recipes/{code}/versions/{number}", response_model=VersionDetail)
def get_version(code: str, number: int, db: DbDep, _: RecipeView) -> VersionDetail:
    with db.sessions() as session:
        return recipes.version_detail(recipes.version_of(session, code, number))


@router.get("/mes/recipes/{code}/versions/{number}/bom", response_model=ScaledBom)
def scaled_bom(
    code: str,
    number: int,
    db: DbDep,
    _: RecipeView,
    batch_size: Annotated[Decimal, Query(gt=0, max_digits=14)],
) -> ScaledBom:
    """The bill of materials scaled to ``batch_size`` (GB/T 8170 rounding)."""
    with db.sessions() as session:
        return recipes.scaled_bom(recipes.version_of(session, code, number), batch_size)


@router.get("/mes/recipes/{code}/diff", response_model=VersionDiff)
def diff(
    code: str, db: DbDep, _: RecipeView, old: Annotated[int, Query(ge=1)], new: Annotated[int, Query(ge=1)]
) -> VersionDiff:
    """What changed between two versions of a recipe."""
    with db.sessions() as session:
        return recipes.diff(recipes.version_of(session, code, old), recipes.version_of(session, code, new))


@router.put("/mes/recipe-versions/{version_id}/body", response_model=VersionDetail)
def replace_body(version_id: int, body: BodyReplace, db: DbDep, principal: RecipeAuthor) -> VersionDetail:
    """A draft's whole body replaced, with the reason."""
    with uow_for(db, principal, body.reason) as uow:
        version = recipes.replace_body(uow, version_id, body.body)
        uow.commit()
        return recipes.version_detail(version)


@router.post("/mes/recipe-versions/{version_id}/submit", response_model=VersionPublic)
def submit(version_id: int, db: DbDep, principal: RecipeAuthor) -> VersionPublic:
    with uow_for(db, principal) as uow:
        version = recipes.submit(uow, version_id)
        uow.commit()
        return recipes.version_public(version)


@router.post("/mes/recipe-versions/{version_id}/review", response_model=DecisionPublic, status_code=201)
def review(version_id: int, body: SignedDecision, db: DbDep, principal: RecipeReview) -> DecisionPublic:
    """The review signature (meaning "reviewed"); the password re-authenticates the signer."""
    with uow_for(db, principal) as uow:
        decision = recipes.review(uow, principal, version_id, password=body.password, login=body.login,
                                  comment=body.comment)  # fmt: skip
        uow.commit()
        return recipes.decision_public(decision)


@router.post("/mes/recipe-versions/{version_id}/approve", response_model=DecisionPublic, status_code=201)
def approve(version_id: int, body: SignedDecision, db: DbDep, principal: RecipeApprove) -> DecisionPublic:
    """The approval signature: the version becomes usable and supersedes the approved one before it."""
    with uow_for(db, principal) as uow:
        decision = recipes.approve(uow, principal, version_id, password=body.password, login=body.login,
                                   comment=body.comment)  # fmt: skip
        uow.commit()
        return recipes.decision_public(decision)


@router.post("/mes/recipe-versions/{version_id}/return", response_model=DecisionPublic, status_code=201)
def return_to_draft(
    version_id: int, body: ReasonedDecision, db: DbDep, principal: RecipeReview
) -> DecisionPublic:
    with uow_for(db, principal, body.reason) as uow:
        decision = recipes.return_to_draft(uow, principal, version_id)
        uow.commit()
        return recipes.decision_public(decision)


@router.post("/mes/recipe-versions/{version_id}/withdraw", response_model=VersionPublic)
def withdraw(version_id: int, body: ReasonedDecision, db: DbDep, principal: RecipeApprove) -> VersionPublic:
    with uow_for(db, principal, body.reason) as uow:
        version = recipes.withdraw(uow, principal, version_id)
        uow.commit()
        return recipes.version_public(version)
