"""Distribution and print control of controlled documents (TJ-9.2, SH-6.3.3).

The rules kept here:

* only an approved-or-effective version — not superseded, not obsolete — is distributed; anything else is
  refused with the reason (its state). Recipients are resolved from the roles, departments and named users
  at distribution time and recorded one read task per person (a person already holding a task for the
  version is not given a second one; a person who may not read documents is left out, and told);
* a recipient acknowledges "read and understood" with an electronic signature (password re-entered,
  meaning "acknowledged"); only their own task, only while its version is not superseded or obsolete;
* a task's state is derived, never stored: ``acknowledged``; else ``superseded`` / ``obsolete`` when its
  version is (the task closes with its version); else ``overdue`` past its due time; else ``open``;
* a controlled copy (受控副本) is printed only of the current effective version and numbered per version
  (1, 2, …; unique in the database). An uncontrolled reference copy (未受控副本) is printed of an approved,
  effective, superseded or obsolete version and recorded without a number. Every print is an audit event
  (``document.print``); a refused print is recorded too (``document.print.refused``);
* a controlled copy still out when its version is superseded or its document withdrawn is *to be recalled*
  (derived); its return and then its destruction (who, when, witness, method) are recorded; a copy is not
  destroyed before it is returned, and the witness is another user.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.documents import service as documents
from pharmatrace.documents import store
from pharmatrace.documents.distribution_models import DocumentCopy, DocumentDistribution, DocumentReadTask
from pharmatrace.documents.distribution_schemas import (
    AcknowledgementCreate,
    CopyCreate,
    CopyDestroy,
    CopyPublic,
    CopyReturn,
    CopyStatus,
    DistributionCreate,
    DistributionPublic,
    DistributionResult,
    LeftOut,
    ReadTaskPublic,
    TaskState,
    VersionDistributionPublic,
)
from pharmatrace.documents.models import Document, DocumentVersion
from pharmatrace.documents.printing import PrintedCopy, render_copy
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.models import Role, User, UserRole
from pharmatrace.kernel.identity.service import Principal, principal_of
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

ACKNOWLEDGE_ACTION = "document.acknowledge"
READ_TASK_TYPE = "document_read_task"
DISTRIBUTABLE = ("approved", "effective")
UNCONTROLLED_PRINTABLE = ("approved", "effective", "superseded", "obsolete")
CLOSED_STATES = ("superseded", "obsolete")

STATE_LABELS = {
    "draft": N_("Draft"),
    "in_review": N_("In review"),
    "approved": N_("Approved, not yet effective"),
    "effective": N_("Effective"),
    "superseded": N_("Superseded"),
    "obsolete": N_("Obsolete (withdrawn)"),
    "withdrawn": N_("Withdrawn"),
}
TASK_LABELS = {
    "open": N_("To read"),
    "overdue": N_("Overdue"),
    "acknowledged": N_("Read and understood"),
    "superseded": N_("Closed: version superseded"),
    "obsolete": N_("Closed: document withdrawn"),
}
COPY_LABELS = {
    "out": N_("Out"),
    "to_recall": N_("To be recalled"),
    "returned": N_("Returned, awaiting destruction"),
    "destroyed": N_("Destroyed"),
    "uncontrolled": N_("Uncontrolled reference copy"),
}
KIND_LABELS = {"controlled": N_("Controlled copy"), "uncontrolled": N_("Uncontrolled copy")}
METHOD_LABELS = {
    "shredding": N_("Shredding"),
    "incineration": N_("Incineration"),
    "pulping": N_("Pulping"),
    "other": N_("Other method"),
}


class DistributionRefused(Conflict):
    """A version that is not approved or effective (draft, superseded, obsolete…) cannot be distributed."""

    code = "distribution_refused"


class PrintRefused(Conflict):
    """A print the state of the version does not allow (recorded as ``document.print.refused``)."""

    code = "print_refused"


class CopyNotReturned(Conflict):
    """A controlled copy is destroyed only after it came back."""

    code = "copy_not_returned"


# --- versions and states ----------------------------------------------------------------------------------


def get_version(session: Session, version_id: int) -> DocumentVersion:
    version = session.get(DocumentVersion, version_id)
    if version is None:
        raise NotFound(N_("No document version {id}"), id=version_id)
    return version


def state_of(version: DocumentVersion, at: datetime | None = None) -> str:
    return str(documents.version_state(version, at or clock.now()))


def _label(version: DocumentVersion) -> str:
    return f"{version.document.number} v{version.version}"


def _beijing_day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=clock.BEIJING).astimezone(UTC)


def _today() -> date:
    return clock.to_beijing(clock.now()).date()


# --- distribution -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Recipient:
    user: User
    via: str


def _readers(users: Iterable[User]) -> list[User]:
    return [u for u in users if u.active]


def _resolve(session: Session, body: DistributionCreate) -> tuple[list[_Recipient], list[LeftOut]]:
    """The people the addressees name, each once (first way named wins), and who was left out, why."""
    found: dict[int, _Recipient] = {}
    skipped: list[LeftOut] = []
    for code in body.roles:
        role = session.scalar(select(Role).where(Role.code == code))
        if role is None or not role.active:
            raise ValidationFailed(N_("No active role “{role}”"), role=code)
        holders = session.scalars(
            select(User).join(UserRole, UserRole.user_id == User.id).where(UserRole.role_id == role.id)
        )
        for user in _readers(holders):
            found.setdefault(user.id, _Recipient(user, f"role:{code}"))
    for department in body.departments:
        # A department names its sub-units too: "生产部" reaches "生产部 冻干粉针车间".
        members = _readers(
            session.scalars(
                select(User).where((User.department == department) | User.department.like(f"{department} %"))
            )
        )
        if not members:
            raise ValidationFailed(
                N_("Nobody active works in the department “{department}”"), department=department
            )
        for user in members:
            found.setdefault(user.id, _Recipient(user, f"department:{department}"))
    for login in body.users:
        named = session.scalar(select(User).where(User.login == login))
        if named is None or not named.active:
            raise ValidationFailed(N_("No active user “{login}”"), login=login)
        found.setdefault(named.id, _Recipient(named, "user"))
    chosen: list[_Recipient] = []
    for recipient in sorted(found.values(), key=lambda r: r.user.login):
        if not principal_of(recipient.user).can("documents.view"):
            skipped.append(LeftOut(login=recipient.user.login, reason="may_not_read"))
            continue
        chosen.append(recipient)
    return chosen, skipped


def _targets(body: DistributionCreate) -> str:
    parts = [f"role:{r}" for r in body.roles] + [f"department:{d}" for d in body.departments]
    return "; ".join(parts + [f"user:{u}" for u in body.users])


def distribute(uow: UnitOfWork, version_id: int, body: DistributionCreate) -> DistributionResult:
    """Distribute ``version_id`` electronically: one read task per recipient, resolved now (TJ-9.2)."""
    session = uow.session
    version = get_version(session, version_id)
    state = state_of(version)
    if state not in DISTRIBUTABLE:
        raise DistributionRefused(
            N_("{document} is {state}: only an approved or effective version can be distributed"),
            document=_label(version),
            state=Msgid(STATE_LABELS.get(state, state)),
        )
    if body.due_on is not None and body.due_on < _today():
        raise ValidationFailed(N_("The date to read it by is in the past"))
    recipients, skipped = _resolve(session, body)
    already = set(
        session.scalars(select(DocumentReadTask.user_id).where(DocumentReadTask.version_id == version.id))
    )
    fresh = []
    for recipient in recipients:
        if recipient.user.id in already:
            skipped.append(LeftOut(login=recipient.user.login, reason="already_reading"))
        else:
            fresh.append(recipient)
    if not fresh:
        raise ValidationFailed(N_("Everyone named already has {document} to read, or may not read it"),
                               document=_label(version))  # fmt: skip
    moment = clock.now()
    due_at = _beijing_day_end(body.due_on) if body.due_on else None
    distribution = DocumentDistribution(
        version_id=version.id, targets=_targets(body), recipients=len(fresh), due_at=due_at, note=body.note,
        distributed_at=moment, distributed_by=uow.actor.login,
    )  # fmt: skip
    session.add(distribution)
    session.flush()
    tasks = []
    for recipient in fresh:
        task = DocumentReadTask(
            distribution_id=distribution.id, version_id=version.id, user_id=recipient.user.id,
            login=recipient.user.login, full_name=recipient.user.full_name, resolved_via=recipient.via,
            due_at=due_at, created_at=moment,
        )  # fmt: skip
        session.add(task)
        tasks.append(task)
    session.flush()
    return DistributionResult(
        distribution=distribution_public(distribution, version),
        tasks=[task_public(session, t, version, state) for t in tasks],
        skipped=skipped,
    )


def distribution_public(distribution: DocumentDistribution, version: DocumentVersion) -> DistributionPublic:
    return DistributionPublic(
        id=distribution.id, version_id=version.id, number=version.document.number, version=version.version,
        targets=distribution.targets, recipients=distribution.recipients, due_at=distribution.due_at,
        note=distribution.note, distributed_at=distribution.distributed_at,
        distributed_by=distribution.distributed_by,
    )  # fmt: skip


def task_state(task: DocumentReadTask, version_state: str, at: datetime | None = None) -> TaskState:
    """Derived from the task and its version's state: closed with its version, overdue past its due time."""
    if task.acknowledged_at is not None:
        return "acknowledged"
    if version_state == "superseded":
        return "superseded"
    if version_state == "obsolete":
        return "obsolete"
    if task.due_at is not None and (at or clock.now()) > task.due_at:
        return "overdue"
    return "open"


def task_public(
    session: Session, task: DocumentReadTask, version: DocumentVersion, version_state: str
) -> ReadTaskPublic:
    signed_by = status = None
    if task.acknowledged_at is not None:
        views = esign.manifestations(session, READ_TASK_TYPE, str(task.id))
        mine = [v for v in views if v.action == ACKNOWLEDGE_ACTION]
        if mine:
            signed_by, status = mine[-1].signer_name, mine[-1].status
    return ReadTaskPublic(
        id=task.id, distribution_id=task.distribution_id, version_id=version.id, number=version.document.number,
        title=version.document.title, version=version.version, version_state=version_state, user_id=task.user_id,
        login=task.login, full_name=task.full_name, resolved_via=task.resolved_via, due_at=task.due_at,
        created_at=task.created_at, acknowledged_at=task.acknowledged_at,
        state=task_state(task, version_state), signed_by=signed_by, signature_status=status,
    )  # fmt: skip


def get_task(session: Session, task_id: int) -> DocumentReadTask:
    task = session.get(DocumentReadTask, task_id)
    if task is None:
        raise NotFound(N_("No read task {id}"), id=task_id)
    return task


def acknowledge(
    uow: UnitOfWork, principal: Principal, task_id: int, body: AcknowledgementCreate
) -> DocumentReadTask:
    """ "Read and understood": the recipient's own task, signed with their password (SH-7.1.4, TJ-9.2)."""
    session = uow.session
    task = get_task(session, task_id)
    principal.require("documents.view")
    if task.user_id != principal.user_id:
        raise NotPermitted(N_("Only the recipient acknowledges their own read task"))
    version = get_version(session, task.version_id)
    if task.acknowledged_at is not None:
        raise Conflict(N_("You already acknowledged {document}"), document=_label(version))
    state = state_of(version)
    if state in CLOSED_STATES:
        raise Conflict(
            N_("{document} is {state}: its read task is closed"),
            document=_label(version),
            state=Msgid(STATE_LABELS[state]),
        )
    # The password is checked before anything changes; a wrong one is recorded apart and refused.
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    task.acknowledged_at = clock.now()
    uow.reason = uow.reason or "read and understood"
    session.flush()
    esign.sign_with_event(uow, principal, object_type=READ_TASK_TYPE, object_id=str(task.id),
                          action_code=ACKNOWLEDGE_ACTION, password=body.password, login=body.login)  # fmt: skip
    return task


def my_reading(session: Session, user_id: int, *, state: str = "") -> list[ReadTaskPublic]:
    """A user's documents to read, newest first; ``state`` keeps one derived state."""
    tasks = session.scalars(
        select(DocumentReadTask)
        .where(DocumentReadTask.user_id == user_id)
        .order_by(DocumentReadTask.id.desc())
    )
    rows = []
    for task in tasks:
        version = get_version(session, task.version_id)
        row = task_public(session, task, version, state_of(version))
        if not state or row.state == state:
            rows.append(row)
    return rows


def version_distribution(session: Session, version_id: int) -> VersionDistributionPublic:
    """The distributions of a version and each recipient's task: who has and has not acknowledged it."""
    version = get_version(session, version_id)
    state = state_of(version)
    distributions = session.scalars(
        select(DocumentDistribution)
        .where(DocumentDistribution.version_id == version.id)
        .order_by(DocumentDistribution.id)
    )
    tasks = [
        task_public(session, t, version, state)
        for t in session.scalars(
            select(DocumentReadTask)
            .where(DocumentReadTask.version_id == version.id)
            .order_by(DocumentReadTask.login)
        )
    ]
    counts = {name: sum(1 for t in tasks if t.state == name) for name in TASK_LABELS}
    counts["total"] = len(tasks)
    return VersionDistributionPublic(
        version_id=version.id, number=version.document.number, title=version.document.title,
        version=version.version, version_state=state,
        distributions=[distribution_public(d, version) for d in distributions], tasks=tasks, counts=counts,
    )  # fmt: skip


# --- printed copies ---------------------------------------------------------------------------------------


def _print_refused(uow: UnitOfWork, version: DocumentVersion, body: CopyCreate, error: PrintRefused) -> None:
    changes: dict[str, Any] = {
        "document": [None, version.document.number],
        "version": [None, version.version],
        "kind": [None, body.kind],
        "printer": [None, body.printer],
        "recipient": [None, body.recipient],
    }
    uow.refuse(error, "document.print.refused", "document_version", version.id, changes=changes)


def print_copy(uow: UnitOfWork, version_id: int, body: CopyCreate) -> tuple[DocumentCopy, bytes]:
    """Print a copy of ``version_id``: the record and the watermarked PDF (TJ-9.2). Every print is audited;
    a controlled copy of anything but the current effective version is refused, and the refusal recorded."""
    session = uow.session
    version = get_version(session, version_id)
    state = state_of(version)
    if body.kind == "controlled" and state != "effective":
        _print_refused(uow, version, body, PrintRefused(
            N_("{document} is {state}: only the current effective version is printed as a controlled copy"),
            document=_label(version), state=Msgid(STATE_LABELS.get(state, state)),
        ))  # fmt: skip
    if body.kind == "uncontrolled" and state not in UNCONTROLLED_PRINTABLE:
        _print_refused(uow, version, body, PrintRefused(
            N_("{document} is {state}: a version not yet approved is not printed"),
            document=_label(version), state=Msgid(STATE_LABELS.get(state, state)),
        ))  # fmt: skip
    copy_no = None
    if body.kind == "controlled":
        last = session.scalar(
            select(func.max(DocumentCopy.copy_no)).where(
                DocumentCopy.version_id == version.id, DocumentCopy.kind == "controlled"
            )
        )
        copy_no = int(last or 0) + 1
    moment = clock.now()
    printed = PrintedCopy(
        kind=body.kind, number=version.document.number, title=version.document.title, version=version.version,
        copy_no=copy_no, printed_by_name=uow.actor.full_name, printed_by_login=uow.actor.login, printed_at=moment,
        effective_from=version.effective_from, recipient=body.recipient,
    )  # fmt: skip
    pdf, pages = render_copy(printed, documents.render_text(version), **_stored_content(uow, version))
    copy = DocumentCopy(
        version_id=version.id, kind=body.kind, copy_no=copy_no, printer=body.printer, recipient=body.recipient,
        location=body.location, purpose=body.purpose, pages=pages, printed_at=moment, printed_by=uow.actor.login,
        printed_by_name=uow.actor.full_name,
    )  # fmt: skip
    session.add(copy)
    session.flush()
    uow.record(
        "document.print",
        "document_copy",
        copy.id,
        changes={
            "document": [None, version.document.number],
            "version": [None, version.version],
            "kind": [None, body.kind],
            "copy_no": [None, copy_no],
            "printer": [None, body.printer],
            "recipient": [None, body.recipient],
            "pages": [None, pages],
        },
        reason=uow.reason or body.purpose,
    )
    return copy, pdf


def _stored_content(uow: UnitOfWork, version: DocumentVersion) -> dict[str, bytes]:
    """A stored PDF prints as itself (stamped) and an image as itself; other content prints as its text.
    The file is read against its SM3 hash: a tampered or missing file is refused, nothing printed."""
    if version.sm3 is None or version.media_type not in ("application/pdf", "image/png", "image/jpeg"):
        return {}
    data = store.read(uow.db, version.sm3, number=version.document.number, version=version.version)
    return {"pdf": data} if version.media_type == "application/pdf" else {"image": data}


def get_copy(session: Session, copy_id: int) -> DocumentCopy:
    copy = session.get(DocumentCopy, copy_id)
    if copy is None:
        raise NotFound(N_("No printed copy {id}"), id=copy_id)
    return copy


def _copy_label(copy: DocumentCopy, version: DocumentVersion) -> str:
    return f"{_label(version)} #{copy.copy_no}" if copy.copy_no is not None else _label(version)


def record_return(uow: UnitOfWork, copy_id: int, body: CopyReturn) -> DocumentCopy:
    """A controlled copy came back to document control (回收)."""
    session = uow.session
    copy = get_copy(session, copy_id)
    version = get_version(session, copy.version_id)
    if copy.kind != "controlled":
        raise Conflict(N_("An uncontrolled copy is not recalled; its print is recorded only"))
    if copy.returned_at is not None:
        raise Conflict(N_("Copy {copy} was already returned"), copy=_copy_label(copy, version))
    copy.returned_at = clock.now()
    copy.returned_by = uow.actor.login
    copy.return_note = body.note.strip()
    uow.reason = uow.reason or (f"controlled copy returned: {copy.return_note}" if copy.return_note else
                                "controlled copy returned")  # fmt: skip
    session.flush()
    return copy


def record_destruction(uow: UnitOfWork, copy_id: int, body: CopyDestroy) -> DocumentCopy:
    """A returned controlled copy destroyed (销毁), with a witness who is another active user."""
    session = uow.session
    copy = get_copy(session, copy_id)
    version = get_version(session, copy.version_id)
    if copy.kind != "controlled":
        raise Conflict(N_("An uncontrolled copy is not recalled; its print is recorded only"))
    if copy.destroyed_at is not None:
        raise Conflict(N_("Copy {copy} was already destroyed"), copy=_copy_label(copy, version))
    if copy.returned_at is None:
        raise CopyNotReturned(N_("Copy {copy} has not been returned: it cannot be destroyed before it is back"),
                              copy=_copy_label(copy, version))  # fmt: skip
    witness = session.scalar(select(User).where(User.login == body.witness))
    if witness is None or not witness.active:
        raise ValidationFailed(N_("No active user “{login}”"), login=body.witness)
    if witness.login == uow.actor.login:
        raise ValidationFailed(N_("The witness of a destruction is another person"))
    copy.destroyed_at = clock.now()
    copy.destroyed_by = uow.actor.login
    copy.destruction_witness = witness.login
    copy.destruction_method = body.method
    uow.reason = uow.reason or f"controlled copy destroyed ({body.method}), witness {witness.login}"
    session.flush()
    return copy


def copy_status(copy: DocumentCopy, version_state: str) -> CopyStatus:
    """Derived: a controlled copy still out of a superseded or obsolete version is to be recalled."""
    if copy.kind == "uncontrolled":
        return "uncontrolled"
    if copy.destroyed_at is not None:
        return "destroyed"
    if copy.returned_at is not None:
        return "returned"
    return "to_recall" if version_state in CLOSED_STATES else "out"


def copy_public(copy: DocumentCopy, version: DocumentVersion, version_state: str) -> CopyPublic:
    return CopyPublic(
        id=copy.id, version_id=version.id, number=version.document.number, title=version.document.title,
        version=version.version, version_state=version_state, kind=copy.kind,
        copy_no=copy.copy_no, printer=copy.printer, recipient=copy.recipient, location=copy.location,
        purpose=copy.purpose, pages=copy.pages, printed_at=copy.printed_at, printed_by=copy.printed_by,
        printed_by_name=copy.printed_by_name, returned_at=copy.returned_at, returned_by=copy.returned_by,
        return_note=copy.return_note, destroyed_at=copy.destroyed_at, destroyed_by=copy.destroyed_by,
        destruction_witness=copy.destruction_witness, destruction_method=copy.destruction_method,
        status=copy_status(copy, version_state),
    )  # fmt: skip


def list_copies(
    session: Session, *, status: str = "", number: str = "", kind: str = "", version_id: int | None = None
) -> list[CopyPublic]:
    """Printed copies, newest first, filtered by derived status, document number (part), kind, version."""
    query = (
        select(DocumentCopy, DocumentVersion)
        .join(DocumentVersion, DocumentVersion.id == DocumentCopy.version_id)
        .join(Document, Document.id == DocumentVersion.document_id)
        .order_by(DocumentCopy.id.desc())
    )
    if number.strip():
        query = query.where(Document.number.ilike(f"%{number.strip()}%"))
    if kind:
        query = query.where(DocumentCopy.kind == kind)
    if version_id is not None:
        query = query.where(DocumentCopy.version_id == version_id)
    states: dict[int, str] = {}
    rows = []
    for copy, version in session.execute(query).all():
        if version.id not in states:
            states[version.id] = state_of(version)
        row = copy_public(copy, version, states[version.id])
        if not status or row.status == status:
            rows.append(row)
    return rows


def to_recall(session: Session) -> list[CopyPublic]:
    """Controlled copies still out of a superseded or withdrawn version (SH-6.3.3 文档回收管理)."""
    return list_copies(session, status="to_recall")


# --- the demo plant ---------------------------------------------------------------------------------------


def seed_distribution(db: Database, password: str) -> int:
    """Demo: the urgent lyophilization change and the extraction SOP distributed to the operators (zhangwei
    has acknowledged both, liuyang not yet), controlled copies at the workstations (the filling SOP's become
    *to be recalled* once its v2 in review is approved), one copy returned and destroyed, a reference copy.
    Runs after the documents demo; does nothing when distributions exist. Returns the read tasks created.
    Copies are printed only when a Chinese PDF font is installed (`make fonts`)."""
    from pharmatrace.kernel.identity import service as identity
    from pharmatrace.kernel.pdf import PdfFontMissing

    def who(login: str) -> Principal:
        with db.sessions() as session:
            user = identity.find_user(session, login)
            assert user is not None, login
            return principal_of(user)

    with db.sessions() as session:
        if session.scalar(select(DocumentDistribution.id).limit(1)) is not None:
            return 0
        versions = {
            number: current.id
            for number in ("SOP-PR-001", "SOP-PR-006", "SOP-PR-007", "MPR-DH-001")
            if (current := documents.current_effective(session, number)) is not None
        }
    controller = who("zhengxue")
    created = 0
    for number, body in (
        ("SOP-PR-007", DistributionCreate(roles=["production_operator"], users=["lina", "chenjing"],
                                          note="紧急变更 CC-2026-035：冻干曲线一次干燥段调整，立即执行")),
        ("SOP-PR-001", DistributionCreate(roles=["production_operator", "production_supervisor"],
                                          due_on=_today() + timedelta(days=7))),
    ):  # fmt: skip
        if number not in versions:
            continue
        with UnitOfWork(db, controller.actor, reason="demo plant seed: document distribution") as uow:
            created += len(distribute(uow, versions[number], body).tasks)
            uow.commit()
        reader = who("zhangwei")
        with UnitOfWork(db, reader.actor) as uow:
            task = uow.session.scalar(select(DocumentReadTask).where(
                DocumentReadTask.version_id == versions[number], DocumentReadTask.user_id == reader.user_id))  # fmt: skip
            if task is not None:
                acknowledge(uow, reader, task.id, AcknowledgementCreate(password=password, login="zhangwei"))
                uow.commit()
    copies = (
        ("SOP-PR-006", "controlled", "灌装间 HP-M406", "灌装岗位", "C 级灌装间岗位文件夹", "岗位操作使用"),
        ("SOP-PR-006", "controlled", "QA 文件室 HP-M406", "QA 现场监督", "QA 办公室文件柜", "现场监督检查"),
        ("SOP-PR-001", "controlled", "提取车间 HP-M406", "提取岗位", "提取车间岗位文件夹", "岗位操作使用"),
        ("SOP-PR-001", "controlled", "提取车间 HP-M406", "提取岗位", "提取车间岗位文件夹", "替换破损副本"),
        ("MPR-DH-001", "uncontrolled", "QA 文件室 HP-M406", "新员工培训", "培训教室", "培训参考"),
    )
    printed: list[DocumentCopy] = []
    try:
        for number, kind, printer, recipient, location, purpose in copies:
            if number not in versions:
                continue
            with UnitOfWork(db, controller.actor, reason="demo plant seed: printed copies") as uow:
                copy, _ = print_copy(uow, versions[number], CopyCreate(
                    kind=kind, printer=printer, recipient=recipient, location=location, purpose=purpose))  # fmt: skip
                uow.commit()
                printed.append(copy)
    except PdfFontMissing:
        return created
    damaged = next(
        (c for c in printed if c.copy_no == 1 and c.purpose == "岗位操作使用" and c.recipient == "提取岗位"),
        None,
    )
    if damaged is not None:  # the first extraction copy came back torn and was shredded before QA
        with UnitOfWork(db, controller.actor) as uow:
            record_return(uow, damaged.id, CopyReturn(note="副本破损，交回换发"))
            uow.commit()
        with UnitOfWork(db, controller.actor) as uow:
            record_destruction(uow, damaged.id, CopyDestroy(method="shredding", witness="chenjing"))
            uow.commit()
    return created
