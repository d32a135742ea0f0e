"""Training gates permissions and steps (TJ-10.1.2.2.d, SH-6.3.4).

A user is *qualified* on a controlled document when they hold a passing, unexpired training record for its
current effective version — or for the version it superseded while the new one is still inside its training
grace period (``effective_from`` + ``training_grace_days``). A requirement on a document with no effective
version (none approved yet, or the document withdrawn) is not enforced; the requirements page warns of it.

Two ways in:

* permissions: :class:`QualificationRequirement` rows (``mes.batch.execute`` → SOP-WH-001) are checked by
  :func:`permission_gaps`, registered in the kernel's ``QUALIFICATION_CHECKS`` at import, so that
  ``Principal.require`` refuses an untrained user with ``QualificationRequired`` — two queries per request;
* steps: :func:`require_trained` / :func:`missing_training`, which the MES calls with the SOP of a step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from pharmatrace.documents.models import Document, DocumentVersion
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, QualificationRequired
from pharmatrace.kernel.identity import service as identity
from pharmatrace.training.models import QualificationRequirement, RetrainingOrder, TrainingRecord

STATUSES = ("qualified", "grace", "lapsed", "expired", "retraining", "untrained", "not_enforced")
STATUS_LABELS = {
    "qualified": N_("Qualified (trained on the current version)"),
    "grace": N_("Qualified on the previous version (grace period)"),
    "lapsed": N_("Lapsed: the grace period for the new version is over"),
    "expired": N_("Lapsed: the training record has expired"),
    "retraining": N_("Lapsed: retraining ordered, not yet passed"),
    "untrained": N_("Not trained"),
    "not_enforced": N_("No effective version: not enforced"),
}


@dataclass(frozen=True, slots=True)
class Effective:
    """The current effective version of a document and the one it superseded, at one moment."""

    number: str
    version_id: int
    version: int
    effective_from: datetime
    grace_until: datetime
    previous_id: int | None
    previous_version: int | None


@dataclass(frozen=True, slots=True)
class Qualification:
    """One person's standing on one document (``version`` is the current effective one)."""

    number: str
    version_id: int | None
    version: int | None
    status: str  # one of STATUSES
    grace_until: datetime | None = None
    valid_until: date | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("qualified", "grace", "not_enforced")

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def training(self) -> str:
        """What is missing, as shown in refusals: ``SOP-PR-007 v2``."""
        return f"{self.number} v{self.version}" if self.version is not None else self.number


def _not_withdrawn(moment: datetime) -> ColumnElement[bool]:
    return or_(Document.withdrawn_at.is_(None), Document.withdrawn_at > moment)


def _today(moment: datetime) -> date:
    return clock.to_beijing(moment).date()


def effective_versions(
    session: Session, numbers: Iterable[str], at: datetime | None = None
) -> dict[str, Effective]:
    """The current effective version of each document in ``numbers`` (one query). Derived as the documents
    area derives it (``version_state``): approved, ``effective_from`` reached, the latest such one, the document
    not withdrawn."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    moment = at or clock.now()
    rows = session.execute(
        select(Document.number, DocumentVersion.id, DocumentVersion.version, DocumentVersion.effective_from,
               DocumentVersion.training_grace_days)
        .join(DocumentVersion, DocumentVersion.document_id == Document.id)
        .where(Document.number.in_(wanted), _not_withdrawn(moment), DocumentVersion.status == "approved",
               DocumentVersion.effective_from <= moment)
        .order_by(Document.number, DocumentVersion.effective_from.desc(), DocumentVersion.version.desc())
    ).all()  # fmt: skip
    return _effective_of(rows)


def _effective_of(rows: Iterable[tuple[str, int, int, datetime | None, int]]) -> dict[str, Effective]:
    by_number: dict[str, list[tuple[int, int, datetime, int]]] = defaultdict(list)
    for number, version_id, version, effective_from, grace in rows:
        if effective_from is not None and len(by_number[number]) < 2:
            by_number[number].append((version_id, version, effective_from, grace))
    found: dict[str, Effective] = {}
    for number, versions in by_number.items():
        version_id, version, since, grace = versions[0]
        previous = versions[1] if len(versions) > 1 else None
        found[number] = Effective(
            number=number,
            version_id=version_id,
            version=version,
            effective_from=since,
            grace_until=since + timedelta(days=grace),
            previous_id=previous[0] if previous else None,
            previous_version=previous[1] if previous else None,
        )
    return found


class _Held(dict[int, list[TrainingRecord]]):
    """A user's passing records by version id; ``retraining`` holds the versions with a retraining order
    not yet passed (records completed before the order are left out)."""

    retraining: frozenset[int] = frozenset()


def _records(session: Session, user_id: int, version_ids: Iterable[int]) -> _Held:
    """The user's passing records on ``version_ids`` (one query); a record completed before a live retraining
    order on its version no longer counts (issue 6 item 5: a deviation or CAPA orders retraining)."""
    ids = sorted(set(version_ids))
    found = _Held()
    if not ids:
        return found
    ordered = (
        select(func.max(RetrainingOrder.created_at))
        .where(
            RetrainingOrder.user_id == TrainingRecord.user_id,
            RetrainingOrder.document_version_id == TrainingRecord.document_version_id,
            RetrainingOrder.voided_at.is_(None),
        )
        .correlate(TrainingRecord)
        .scalar_subquery()
    )
    retraining: set[int] = set()
    for record, since in session.execute(
        select(TrainingRecord, ordered).where(
            TrainingRecord.user_id == user_id,
            TrainingRecord.passed.is_(True),
            TrainingRecord.document_version_id.in_(ids),
        )
    ):
        assert record.document_version_id is not None
        if since is None or record.completed_at >= since:
            found.setdefault(record.document_version_id, []).append(record)
        else:
            retraining.add(record.document_version_id)
    found.retraining = frozenset(v for v in retraining if v not in found)
    return found


def _standing(effective: Effective | None, number: str, records: _Held, moment: datetime) -> Qualification:
    if effective is None:
        return Qualification(number, None, None, "not_enforced")
    today = _today(moment)

    def made(
        status: str, grace_until: datetime | None = None, valid_until: date | None = None
    ) -> Qualification:
        return Qualification(
            number, effective.version_id, effective.version, status, grace_until, valid_until
        )

    def valid(version_id: int | None) -> tuple[bool, bool, date | None]:
        """(holds a live record, held one that expired, the latest ``valid_until``)"""
        held = records.get(version_id, []) if version_id is not None else []
        live = [r for r in held if r.valid_until is None or r.valid_until >= today]
        ends = [r.valid_until for r in (live or held)]
        latest = None if live and None in ends else max((e for e in ends if e is not None), default=None)
        return bool(live), bool(held) and not live, latest

    current_ok, current_expired, until = valid(effective.version_id)
    if current_ok:
        return made("qualified", valid_until=until)
    if effective.version_id in records.retraining:  # ordered: no grace on an older version either
        return made("retraining")
    previous_ok, previous_expired, previous_until = valid(effective.previous_id)
    if previous_ok and moment < effective.grace_until:
        return made("grace", effective.grace_until, previous_until)
    if current_expired:
        return made("expired", valid_until=until)
    if previous_ok:
        return made("lapsed", effective.grace_until, previous_until)
    if previous_expired:
        return made("expired", effective.grace_until, previous_until)
    return made("untrained")


def standings(
    session: Session, user_id: int, document_numbers: Iterable[str], at: datetime | None = None
) -> list[Qualification]:
    """The user's qualification on each document (two queries), in the order of ``document_numbers``."""
    numbers = list(dict.fromkeys(document_numbers))
    moment = at or clock.now()
    effective = effective_versions(session, numbers, moment)
    ids = [v for e in effective.values() for v in (e.version_id, e.previous_id) if v is not None]
    records = _records(session, user_id, ids)
    return [_standing(effective.get(n), n, records, moment) for n in numbers]


def missing_training(session: Session, user_id: int, document_numbers: Iterable[str]) -> list[Qualification]:
    """The documents of ``document_numbers`` the user is not qualified on now (TJ-10.1.2.2.d)."""
    return [q for q in standings(session, user_id, document_numbers) if not q.ok]


def refusal(missing: list[Qualification]) -> QualificationRequired:
    return QualificationRequired(
        N_("Not trained on the current version of {training}: complete the training first"),
        training=", ".join(q.training for q in missing),
    )


def require_trained(session: Session, user_id: int, document_number: str) -> None:
    """Refuse a step to a user not qualified on the current effective version of ``document_number``
    (e.g. the MES's lyophilization step and SOP-PR-007); the error names the document and version."""
    missing = missing_training(session, user_id, [document_number])
    if missing:
        raise refusal(missing)


def active_requirements(session: Session) -> list[QualificationRequirement]:
    return list(
        session.scalars(
            select(QualificationRequirement)
            .where(QualificationRequirement.voided_at.is_(None))
            .order_by(QualificationRequirement.permission, QualificationRequirement.document_number)
        )
    )


def permission_gaps(session: Session, user_id: int) -> dict[str, str]:
    """Permission → the training missing for it (``"SOP-WH-001 v2"``), for ``Principal.require``.

    Two queries: the requirements with their documents' effective versions, then the user's records.
    """
    moment = clock.now()
    rows = session.execute(
        select(QualificationRequirement.permission, Document.number, DocumentVersion.id, DocumentVersion.version,
               DocumentVersion.effective_from, DocumentVersion.training_grace_days)
        .join(Document, Document.number == QualificationRequirement.document_number)
        .join(DocumentVersion, DocumentVersion.document_id == Document.id)
        .where(QualificationRequirement.voided_at.is_(None), _not_withdrawn(moment),
               DocumentVersion.status == "approved", DocumentVersion.effective_from <= moment)
        .order_by(Document.number, DocumentVersion.effective_from.desc(), DocumentVersion.version.desc())
    ).all()  # fmt: skip
    if not rows:
        return {}
    permissions: dict[str, set[str]] = defaultdict(set)
    seen: set[tuple[str, int]] = set()
    version_rows: list[tuple[str, int, int, datetime | None, int]] = []
    for permission, number, version_id, version, since, grace in rows:
        permissions[number].add(permission)
        if (number, version_id) not in seen:
            seen.add((number, version_id))
            version_rows.append((number, version_id, version, since, grace))
    effective = _effective_of(version_rows)
    ids = [v for e in effective.values() for v in (e.version_id, e.previous_id) if v is not None]
    records = _records(session, user_id, ids)
    gaps: dict[str, list[str]] = defaultdict(list)
    for number, eff in sorted(effective.items()):
        standing = _standing(eff, number, records, moment)
        if not standing.ok:
            for permission in sorted(permissions[number]):
                gaps[permission].append(standing.training)
    return {permission: ", ".join(items) for permission, items in gaps.items()}


if permission_gaps not in identity.QUALIFICATION_CHECKS:
    identity.QUALIFICATION_CHECKS.append(permission_gaps)
