"""Access requests (TJ-10.1.2.2.d): a business user or their supervisor asks for a role for someone, with a
justification; a system administrator approves or rejects it.

Approval grants the role through :func:`pharmatrace.kernel.identity.service.set_user_roles`, so the grant is
audited like any other. The kernel knows nothing of training: the training area registers

* a subscriber to :class:`AccessRequested` (kernel events) that assigns the training the role needs, and
* a readiness check in :data:`ROLE_READINESS` that names the training still missing; approval is refused
  while any is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

from pharmatrace.kernel import clock, events
from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import (
    N_,
    Conflict,
    NotFound,
    NotPermitted,
    QualificationRequired,
    ValidationFailed,
)
from pharmatrace.kernel.identity.models import Role, User
from pharmatrace.kernel.identity.service import Principal, get_user, set_user_roles
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

STATUSES = ("pending", "approved", "rejected")
STATUS_LABELS = {"pending": N_("Pending"), "approved": N_("Approved"), "rejected": N_("Rejected")}
# Whoever may ask for a role on someone else's behalf: their supervisor or the training coordinator.
ON_BEHALF = ("mes.batch.supervise", "training.manage")


class AccessRequest(Audited, Base):
    """A request for a role (权限申请) and its decision; decided once, never deleted."""

    __tablename__ = "access_requests"
    __audit_type__ = "access_request"
    __audit_label__ = N_("Access request")
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        CheckConstraint("length(justification) >= 5", name="justification"),
        CheckConstraint(
            "(status = 'pending' AND decided_at IS NULL AND decided_by IS NULL)"
            " OR (status <> 'pending' AND decided_at IS NOT NULL AND decided_by IS NOT NULL)",
            name="decision",
        ),
        Index("ix_access_requests_user_id", "user_id"),
        Index("ix_access_requests_status", "status"),
        # One pending request per person and role.
        Index(
            "uq_access_requests_pending",
            "user_id",
            "role_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"), nullable=False)
    justification: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, nullable=False, default="")


@dataclass(frozen=True, slots=True)
class AccessRequested:
    """Published when a role is requested: training assigns what the role needs (TJ-10.1.2.2.d)."""

    request_id: int
    user_id: int
    role_code: str


# (session, user_id, role_code) -> the training still missing for that role, e.g. ["SOP-WH-001 v1"]
ROLE_READINESS: list[Callable[[Session, int, str], list[str]]] = []


def get_request(session: Session, request_id: int) -> AccessRequest:
    row = session.get(AccessRequest, request_id)
    if row is None:
        raise NotFound(N_("No access request with ID {id}"), id=request_id)
    return row


def list_requests(
    session: Session, *, status: str | None = None, user_id: int | None = None
) -> list[AccessRequest]:
    query = select(AccessRequest).order_by(AccessRequest.id.desc())
    if status:
        query = query.where(AccessRequest.status == status)
    if user_id is not None:
        query = query.where(AccessRequest.user_id == user_id)
    return list(session.scalars(query))


def missing_for_role(session: Session, user_id: int, role_code: str) -> list[str]:
    return [item for check in ROLE_READINESS for item in check(session, user_id, role_code)]


def request_role(
    uow: UnitOfWork, principal: Principal, *, user_id: int, role_code: str, justification: str
) -> AccessRequest:
    """Ask for ``role_code`` for ``user_id``: oneself, or on someone's behalf as supervisor/coordinator."""
    session = uow.session
    if "admin" in principal.role_kinds:
        raise NotPermitted(N_("System administrators decide access requests; they do not raise them"))
    principal.require("training.take")  # read-only accounts (inspectors) raise nothing
    if user_id != principal.user_id and not any(principal.can(code) for code in ON_BEHALF):
        raise NotPermitted(
            N_("Only a supervisor or the training coordinator may request a role for someone else")
        )
    user = get_user(session, user_id)
    if not user.active:
        raise ValidationFailed(N_("The account is deactivated"))
    text = justification.strip()
    if len(text) < 5:
        raise ValidationFailed(N_("Give a justification of at least {min} characters"), min=5)
    role = session.scalar(select(Role).where(Role.code == role_code))
    if role is None:
        raise ValidationFailed(N_("Unknown role “{role}”"), role=role_code)
    if not role.active:
        raise ValidationFailed(N_("The role “{role}” is inactive"), role=role_code)
    if role.kind != "business":
        raise ValidationFailed(
            N_("Only business roles can be requested; administration roles are granted directly")
        )
    if any(grant.role_id == role.id for grant in user.grants):
        raise Conflict(N_("{user} already holds the role “{role}”"), user=user.full_name, role=role.code)
    pending = session.scalar(
        select(AccessRequest.id).where(
            AccessRequest.user_id == user.id,
            AccessRequest.role_id == role.id,
            AccessRequest.status == "pending",
        )
    )
    if pending is not None:
        raise Conflict(N_("A request for this role is already pending (No. {id})"), id=pending)
    row = AccessRequest(
        user_id=user.id,
        role_id=role.id,
        justification=text,
        status="pending",
        requested_at=clock.now(),
        requested_by=principal.login,
        decision_note="",
    )
    session.add(row)
    session.flush()
    events.publish(uow, AccessRequested(request_id=row.id, user_id=user.id, role_code=role.code))
    return row


def _decide(uow: UnitOfWork, principal: Principal, request_id: int, note: str) -> AccessRequest:
    principal.require("admin.users.manage")
    row = get_request(uow.session, request_id)
    if row.status != "pending":
        raise Conflict(N_("This access request has already been decided"))
    row.decided_at = clock.now()
    row.decided_by = principal.login
    row.decision_note = note.strip()
    return row


def approve(uow: UnitOfWork, principal: Principal, request_id: int, note: str = "") -> AccessRequest:
    """Grant the role — refused, naming the training, while any training the role needs is incomplete."""
    principal.require("admin.users.manage")
    session = uow.session
    row = get_request(session, request_id)
    role = session.get(Role, row.role_id)
    assert role is not None
    missing = missing_for_role(session, row.user_id, role.code)
    if missing:
        raise QualificationRequired(
            N_("The role “{role}” cannot be granted yet: training incomplete on {training}"),
            role=role.code,
            training=", ".join(missing),
        )
    uow.reason = uow.reason or f"access request {row.id} approved"
    _decide(uow, principal, request_id, note)
    row.status = "approved"
    user: User = get_user(session, row.user_id)
    set_user_roles(uow, user.id, sorted({g.role.code for g in user.grants} | {role.code}))
    session.flush()
    return row


def reject(uow: UnitOfWork, principal: Principal, request_id: int, note: str) -> AccessRequest:
    if len(note.strip()) < 5:
        raise ValidationFailed(N_("Give a reason of at least {min} characters"), min=5)
    uow.reason = uow.reason or note.strip()
    row = _decide(uow, principal, request_id, note)
    row.status = "rejected"
    uow.session.flush()
    return row
