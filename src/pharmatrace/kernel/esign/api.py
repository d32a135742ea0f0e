"""``/api/v1/esign`` — the signable-action registry, a record's signatures, signing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints

from pharmatrace.kernel.esign import service
from pharmatrace.kernel.esign.policy import ACTIONS, MEANINGS
from pharmatrace.kernel.identity.schemas import Password, Strict
from pharmatrace.web import i18n
from pharmatrace.web.deps import CurrentPrincipal, DbDep, uow_for

router = APIRouter(prefix="/esign", tags=["electronic signatures"])


class StepPublic(BaseModel):
    meaning: str
    meaning_label: str
    permission: str


class ActionPublic(BaseModel):
    code: str
    object_type: str
    label: str
    dual: bool
    with_event: bool  # signed only together with its record's event, not through POST /esign/signatures
    steps: list[StepPublic]


class SignatureCreate(Strict):
    object_type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,64}$")]
    object_id: Annotated[str, StringConstraints(pattern=r"^[0-9:]{1,128}$")]
    action: Annotated[str, StringConstraints(pattern=r"^[a-z_.]{2,64}$")]
    password: Password
    login: Annotated[str | None, Field(default=None, max_length=64)] = None


class SignaturePublic(BaseModel):
    id: int
    action: str
    step: int
    meaning: str
    meaning_label: str
    signer_login: str
    signer_name: str
    signed_at: datetime
    status: str


@router.get("/actions", response_model=list[ActionPublic])
def list_actions(_: CurrentPrincipal) -> list[ActionPublic]:
    """SH-7.1.4.c: the functions that can carry an electronic signature, and what each needs."""
    return [
        ActionPublic(code=a.code, object_type=a.object_type, label=i18n.gettext(a.label), dual=a.dual,
                     with_event=a.with_event,
                     steps=[StepPublic(meaning=s.meaning, meaning_label=i18n.gettext(MEANINGS[s.meaning]),
                                       permission=s.permission) for s in a.steps])
        for a in ACTIONS
    ]  # fmt: skip


def _public(view: service.SignatureView) -> SignaturePublic:
    return SignaturePublic(id=view.id, action=view.action, step=view.step, meaning=view.meaning,
                           meaning_label=i18n.gettext(MEANINGS[view.meaning]), signer_login=view.signer_login,
                           signer_name=view.signer_name, signed_at=view.signed_at, status=view.status)  # fmt: skip


@router.get("/signatures", response_model=list[SignaturePublic])
def list_signatures(
    object_type: str, object_id: str, db: DbDep, _: CurrentPrincipal
) -> list[SignaturePublic]:
    """The signatures of one record, each verified now: valid, changed (record changed after signing), invalid."""
    with db.sessions() as session:
        return [_public(v) for v in service.manifestations(session, object_type, object_id)]


@router.post("/signatures", response_model=SignaturePublic, status_code=201)
def create_signature(body: SignatureCreate, db: DbDep, principal: CurrentPrincipal) -> SignaturePublic:
    """Sign a record. The policy decides who may sign which step; re-authentication happens here."""
    with uow_for(db, principal) as uow:
        signature = service.sign(
            uow,
            principal,
            object_type=body.object_type,
            object_id=body.object_id,
            action_code=body.action,
            password=body.password,
            login=body.login,
        )
        uow.commit()
    with db.sessions() as session:
        views = service.manifestations(session, body.object_type, body.object_id)
    return _public(next(v for v in views if v.id == signature.id))
