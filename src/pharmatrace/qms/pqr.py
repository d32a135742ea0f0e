"""Product quality review (产品质量回顾, PQR; TJ-9.4, SH-6.2.4, issue 9 item 9; after Veeva Vault QMS and
TrackWise APR/PQR): the service.

A holder of ``qms.pqr.manage`` (QA) compiles the review of a product — a finished good of the material master, the
``product_code`` of the MES batches — over a period, by default the calendar year (``PQR-YYYY-NNNN``): the
compiler (:mod:`pharmatrace.qms.pqr_compile`) reads the batches and their release, yields, deviations, test results
with OOS and OOT, changes, complaints and recalls, and stability studies, and the review keeps it as canonical JSON
with its SM3 (``content_sm3``). TJ-9.4: the review confirms that the process is stable and reliable and the current
specifications fit, finds adverse trends early and sets the direction of improvements. Its lifecycle is the
declared state machine :data:`TRANSITIONS`::

    compiled ──review (QA's conclusions)──> in_review ──approve (QP signs; never the compiler)──> approved
    compiled / in_review ──recompile (with a reason)──> superseded, and the next version (same number) compiled
    approved ──recompile (a correction, with a reason)──> superseded, and the next version compiled

* Recompiling before the approval adds the next version of the review under the same number and marks the one
  before ``superseded``: each snapshot stays a row with its content and SM3, reachable from the review's page, the
  audit trail and the ledger. QA's conclusions are carried over to the new version as a draft to confirm.
* The qualified person (``qms.release.decide``) approves by an electronic signature (action ``qms.pqr.approve``)
  on an append-only :class:`PqrDecision` naming the SM3 of the compiled content and of the conclusions; refused
  without an overall conclusion, and to the person who compiled that version or wrote its conclusions (SH-7.1.4).
  Conclusions already recorded change only with a reason. An approved review is not changed: a correction is its
  next version, compiled with a reason, reviewed and approved again; the signed version stays as it was.

Every refusal raises a typed, translatable error and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger, workflow
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import pqr_compile
from pharmatrace.qms.pqr_models import OPEN_STATUSES, SECTIONS, STATUS_LABELS, STATUSES, PqrDecision
from pharmatrace.qms.pqr_models import ProductQualityReview as Pqr
from pharmatrace.qms.pqr_schemas import (
    PqrApprove,
    PqrCompile,
    PqrDecisionPublic,
    PqrDetail,
    PqrPublic,
    PqrRecompile,
    PqrReview,
    PqrVersionPublic,
)
from pharmatrace.qms.signatures import signatures_of
from pharmatrace.wms.models import Material

MANAGE_PERMISSION = "qms.pqr.manage"
VIEW_PERMISSION = "qms.view"
APPROVE_PERMISSION = "qms.release.decide"  # the qualified person
APPROVE_ACTION = "qms.pqr.approve"  # signable action (kernel/esign/policy.py)
DECISION_TYPE = "qms_pqr_decision"


class PqrDutiesNotSegregated(NotPermitted):
    """Who compiled a product quality review may not approve it (SH-7.1.4)."""

    code = "pqr_duties"


class PqrTransitionRefused(Conflict):
    """A review step that its state or its guards do not allow now: the message says why."""

    code = "pqr_transition_refused"


# --- reading -------------------------------------------------------------------------------------------------


def today() -> date:
    return clock.to_beijing(clock.now()).date()


def find_pqr(session: Session, number: str, version: int | None = None) -> Pqr | None:
    """The review's live version (not superseded), or the version asked for."""
    query = select(Pqr).where(Pqr.number == number.strip().upper())
    if version is None:
        query = query.where(Pqr.status != "superseded")
    else:
        query = query.where(Pqr.version == version)
    return session.scalar(query)


def get_pqr(session: Session, number: str, version: int | None = None) -> Pqr:
    pqr = find_pqr(session, number, version)
    if pqr is None:
        raise NotFound(N_("No product quality review {number}"), number=number)
    return pqr


def versions_of(session: Session, number: str) -> list[Pqr]:
    """Every compiled version of a review, oldest first."""
    return list(session.scalars(select(Pqr).where(Pqr.number == number).order_by(Pqr.version)))


def list_pqrs(session: Session, *, status: str = "", text: str = "") -> list[Pqr]:
    """The live version of every review, newest first; ``status`` one of the statuses or ``open``."""
    query = select(Pqr).where(Pqr.status != "superseded").order_by(Pqr.id.desc())
    if status == "open":
        query = query.where(Pqr.status.in_(OPEN_STATUSES))
    elif status in STATUSES:
        query = query.where(Pqr.status == status)
    if text.strip():
        like = f"%{text.strip()}%"
        query = query.where(
            or_(Pqr.number.ilike(like), Pqr.product_code.ilike(like), Pqr.product_name.ilike(like))
        )
    return list(session.scalars(query))


def products(session: Session) -> list[Material]:
    """The finished goods a review can be compiled for."""
    query = select(Material).where(Material.kind == "finished_good", Material.voided_at.is_(None))
    return list(session.scalars(query.order_by(Material.code)))


def content_of(pqr: Pqr) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(pqr.content)
    return parsed


def comments_of(pqr: Pqr) -> dict[str, str]:
    parsed: dict[str, str] = json.loads(pqr.section_comments or "{}")
    return parsed


# --- content and its hashes ----------------------------------------------------------------------------------


def content_hash(text: str) -> str:
    return crypto.sm3(text.encode()).hex()


def review_content(pqr: Pqr) -> str:
    """QA's conclusions as canonical JSON, bound to the content they were given on: what ``review_sm3`` hashes."""
    return ledger.canonical_text({
        "number": pqr.number, "version": pqr.version, "content_sm3": pqr.content_sm3,
        "comments": comments_of(pqr), "process_stable": pqr.process_stable, "actions": pqr.actions,
        "overall_conclusion": pqr.overall_conclusion,
    })  # fmt: skip


def review_hash(pqr: Pqr) -> str:
    return content_hash(review_content(pqr))


# --- the state machine ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    session: Session
    pqr: Pqr
    principal: Principal


def guard_concluded(ctx: Context) -> None:
    if len(ctx.pqr.overall_conclusion.strip()) < 2:
        raise PqrTransitionRefused(
            N_("The review {number} has no overall conclusion yet"), number=ctx.pqr.number
        )


def guard_not_the_compiler(ctx: Context) -> None:
    # SH-7.1.4: who compiled the review does not approve it.
    if ctx.principal.login == ctx.pqr.compiled_by:
        raise PqrDutiesNotSegregated(N_("The compiler of a product quality review may not approve it"))


def guard_not_the_reviewer(ctx: Context) -> None:
    # SH-7.1.4: who wrote the conclusions does not approve them (a trigger in the database too, 0047).
    if ctx.principal.login == ctx.pqr.reviewed_by:
        raise PqrDutiesNotSegregated(
            N_("Who wrote the conclusions of a product quality review may not approve it")
        )


Transition = workflow.Transition[Context]
Guard = Callable[[Context], None]

# fmt: off
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in (
        Transition("review", OPEN_STATUSES, "in_review", (MANAGE_PERMISSION,), ()),
        # an approved review is corrected by its next version: the approval stays on the version it signed
        Transition("recompile", (*OPEN_STATUSES, "approved"), "superseded", (MANAGE_PERMISSION,), ()),
        Transition("approve", ("in_review",), "approved", (APPROVE_PERMISSION,),
                   (guard_concluded, guard_not_the_compiler, guard_not_the_reviewer), signed=APPROVE_ACTION),
    )
}
# fmt: on


MACHINE = workflow.Machine(
    TRANSITIONS,
    Context,
    workflow.state_refusal(PqrTransitionRefused, STATUS_LABELS),
)
_refuse_state = MACHINE.refused
_check = MACHINE.check
allowed = MACHINE.allowed


# --- compiling -----------------------------------------------------------------------------------------------


def _product(session: Session, code: str) -> Material:
    """A finished good of the material master; anything else is refused as invalid input (422)."""
    product = session.scalar(select(Material).where(Material.code == code.strip().upper()))
    if product is None or product.kind != "finished_good" or product.voided_at is not None:
        raise ValidationFailed(N_("{code} is not a finished product of the material master"), code=code)
    return product


def period_of(body: PqrCompile) -> tuple[date, date]:
    """The period asked for: the given dates, else the calendar year (default the current one)."""
    if body.period_start is not None and body.period_end is not None:
        start, end = body.period_start, body.period_end
    else:
        year = body.year or today().year
        start, end = date(year, 1, 1), date(year, 12, 31)
    if end < start:
        raise ValidationFailed(N_("The period cannot end before it starts"))
    return start, end


def _snapshot(session: Session, product: Material, start: date, end: date) -> tuple[str, str]:
    text = ledger.canonical_text(pqr_compile.compile_content(session, product, start, end))
    return text, content_hash(text)


def next_number(session: Session) -> str:
    """``PQR-`` + the year (Beijing) + ``-`` + a 4-digit serial per year: ``PQR-2026-0001``."""
    from pharmatrace.wms.codes import next_serial

    year = today().year
    while True:
        number = f"PQR-{year}-{next_serial(session, f'QMS:PQR-{year}-#'):04d}"
        if session.scalar(select(Pqr.id).where(Pqr.number == number)) is None:
            return number


def compile_review(uow: UnitOfWork, principal: Principal, body: PqrCompile) -> Pqr:
    """A new review of a product over a period, compiled now (``compiled``); one live review per product and
    period — a second one is recompiled instead."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    product = _product(session, body.product)
    start, end = period_of(body)
    live = session.scalar(select(Pqr).where(Pqr.product_id == product.id, Pqr.period_start == start,
                                            Pqr.period_end == end, Pqr.status != "superseded"))  # fmt: skip
    if live is not None:
        raise Conflict(N_("{number} already reviews {product} over this period: recompile it instead"),
                       number=live.number, product=product.code)  # fmt: skip
    text, sm3 = _snapshot(session, product, start, end)
    number = next_number(session)
    uow.reason = uow.reason or f"product quality review {number} compiled"
    pqr = Pqr(
        number=number, version=1, product_id=product.id, product_code=product.code, product_name=product.name,
        period_start=start, period_end=end, status="compiled", content=text, content_sm3=sm3,
        compiled_at=clock.now(), compiled_by=principal.login, compiled_by_name=principal.full_name,
        recompile_reason="", section_comments="{}", actions="", overall_conclusion="",
    )  # fmt: skip
    session.add(pqr)
    session.flush()
    return pqr


def recompile(uow: UnitOfWork, principal: Principal, number: str, body: PqrRecompile) -> Pqr:
    """The next version compiled from the records as they are now; the one before is kept, ``superseded``.
    QA's conclusions are carried over as a draft: the new version is ``compiled`` until they are confirmed."""
    session = uow.session
    old = get_pqr(session, number)
    transition = _check(session, principal, old, "recompile")
    product = session.get(Material, old.product_id)
    assert product is not None
    text, sm3 = _snapshot(session, product, old.period_start, old.period_end)
    uow.reason = body.reason
    now = clock.now()
    old.status = transition.target
    old.superseded_at = now
    session.flush()  # the live version's unique index is free before the next one is added
    pqr = Pqr(
        number=old.number, version=old.version + 1, product_id=old.product_id, product_code=old.product_code,
        product_name=old.product_name, period_start=old.period_start, period_end=old.period_end,
        status="compiled", content=text, content_sm3=sm3, compiled_at=now, compiled_by=principal.login,
        compiled_by_name=principal.full_name, supersedes_id=old.id, recompile_reason=body.reason,
        section_comments=old.section_comments, process_stable=old.process_stable, actions=old.actions,
        overall_conclusion=old.overall_conclusion,
    )  # fmt: skip
    session.add(pqr)
    session.flush()
    return pqr


# --- QA's review and the approval ----------------------------------------------------------------------------


def record_review(uow: UnitOfWork, principal: Principal, number: str, body: PqrReview) -> Pqr:
    """QA's conclusions: comments per section, process stable and capable or not, actions, overall conclusion."""
    session = uow.session
    pqr = get_pqr(session, number)
    transition = _check(session, principal, pqr, "review")
    if pqr.reviewed_at is not None:  # conclusions already recorded change with the reason (TJ-B.2.5 CZYY)
        if body.reason is None:
            raise ValidationFailed(N_("A reason is required for this change"))
        uow.reason = body.reason
    uow.reason = uow.reason or f"product quality review {pqr.number}: conclusions recorded"
    pqr.section_comments = ledger.canonical_text(
        {k: v for k, v in body.comments.items() if v and k in SECTIONS}
    )
    pqr.process_stable = body.process_stable
    pqr.actions = body.actions
    pqr.overall_conclusion = body.overall_conclusion
    pqr.reviewed_at = clock.now()
    pqr.reviewed_by = principal.login
    pqr.reviewed_by_name = principal.full_name
    pqr.status = transition.target
    session.flush()
    return pqr


def approve(uow: UnitOfWork, principal: Principal, number: str, body: PqrApprove) -> PqrDecision:
    """The qualified person approves the review by signature on a decision naming the content and the
    conclusions SM3 (never the compiler; never without an overall conclusion)."""
    session = uow.session
    pqr = get_pqr(session, number)
    transition = _check(session, principal, pqr, "approve")
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or f"product quality review {pqr.number} approved"
    review_sm3 = review_hash(pqr)
    now = clock.now()
    pqr.status = transition.target
    pqr.approved_at = now
    pqr.approved_by = principal.login
    session.flush()
    decision = PqrDecision(
        pqr_id=pqr.id, kind="approve", content_sm3=pqr.content_sm3, review_sm3=review_sm3,
        conclusion=pqr.overall_conclusion, comment=body.comment, decided_at=now, decided_by=principal.login,
        decided_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, decision, action_code=APPROVE_ACTION, password=body.password,
                              login=body.login, expire=(pqr, "decisions"))  # fmt: skip
    return decision


# --- output --------------------------------------------------------------------------------------------------


def decision_public(session: Session, decision: PqrDecision) -> PqrDecisionPublic:
    signatures = signatures_of(session, DECISION_TYPE, str(decision.id))
    return PqrDecisionPublic(
        id=decision.id, kind=decision.kind, content_sm3=decision.content_sm3, review_sm3=decision.review_sm3,
        conclusion=decision.conclusion, comment=decision.comment, decided_at=decision.decided_at,
        decided_by=decision.decided_by, decided_by_name=decision.decided_by_name, signatures=signatures,
    )  # fmt: skip


def _counts(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: section.get("counts", {}) for name, section in (content.get("sections") or {}).items()}


def pqr_public(pqr: Pqr, content: dict[str, Any] | None = None) -> PqrPublic:
    p = pqr
    return PqrPublic(
        id=p.id, number=p.number, version=p.version, product_code=p.product_code, product_name=p.product_name,
        period_start=p.period_start, period_end=p.period_end, status=p.status, content_sm3=p.content_sm3,
        compiled_at=p.compiled_at, compiled_by=p.compiled_by, compiled_by_name=p.compiled_by_name,
        counts=_counts(content if content is not None else content_of(p)), reviewed_at=p.reviewed_at,
        reviewed_by=p.reviewed_by, approved_at=p.approved_at, approved_by=p.approved_by,
    )  # fmt: skip


def pqr_detail(session: Session, pqr: Pqr) -> PqrDetail:
    p = pqr
    content = content_of(p)
    versions = [
        PqrVersionPublic(version=v.version, status=v.status, content_sm3=v.content_sm3, compiled_at=v.compiled_at,
                         compiled_by=v.compiled_by, recompile_reason=v.recompile_reason, superseded_at=v.superseded_at)
        for v in versions_of(session, p.number)
    ]  # fmt: skip
    return PqrDetail(
        **pqr_public(p, content).model_dump(), recompile_reason=p.recompile_reason, content=content,
        charts=pqr_compile.charts(content), comments=comments_of(p), process_stable=p.process_stable,
        actions=p.actions, overall_conclusion=p.overall_conclusion, reviewed_by_name=p.reviewed_by_name,
        review_sm3=review_hash(p), versions=versions, decisions=[decision_public(session, d) for d in p.decisions],
    )  # fmt: skip
