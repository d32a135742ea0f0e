"""Distribution, read-and-understood acknowledgements and printed copies (TJ-9.2, SH-6.3.3).

* :class:`DocumentDistribution` — one controlled electronic distribution of a version: to whom it was
  addressed (roles, departments, named users) as the document controller asked.
* :class:`DocumentReadTask` — one recipient's task to read that version, resolved from the addressees at
  distribution time and recorded per person; acknowledged "read and understood" with an e-signature.
  Whether an open task is overdue, or closed because its version was superseded or withdrawn, is derived
  from the version's state (:func:`pharmatrace.documents.service.version_state`), never stored.
* :class:`DocumentCopy` — a printed copy: a controlled copy (受控副本) numbered per version, or an
  uncontrolled reference copy (未受控副本) recorded without a number. A controlled copy is returned and then
  destroyed (who, when, witness, method); "to be recalled" is derived from its version's state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

COPY_KINDS = ("controlled", "uncontrolled")  # 受控副本、未受控副本
DESTRUCTION_METHODS = ("shredding", "incineration", "pulping", "other")  # 碎纸、焚烧、化浆、其他
TARGET_KINDS = ("role", "department", "user")


class DocumentDistribution(Audited, Base):
    """A controlled electronic distribution (文件分发) of one document version (TJ-9.2)."""

    __tablename__ = "document_distributions"
    __audit_type__ = "document_distribution"
    __audit_label__ = N_("Distribution of a controlled document")
    __table_args__ = (
        CheckConstraint("recipients >= 1", name="recipients"),
        Index("ix_document_distributions_version_id", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), nullable=False)
    # The addressees as asked: "role:production_operator; department:质量保证部; user:zhangwei".
    targets: Mapped[str] = mapped_column(Text, nullable=False)
    recipients: Mapped[int] = mapped_column(Integer, nullable=False)  # read tasks created
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # read by
    note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    distributed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    distributed_by: Mapped[str] = mapped_column(String(64), nullable=False)


class DocumentReadTask(Audited, Base):
    """One recipient's task to read a version, acknowledged "read and understood" with a signature.

    One task per person and version: a second distribution to the same person does not add another.
    """

    __tablename__ = "document_read_tasks"
    __audit_type__ = "document_read_task"
    __audit_label__ = N_("Read-and-understood task of a controlled document")
    __table_args__ = (
        UniqueConstraint("version_id", "user_id"),
        Index("ix_document_read_tasks_user_id", "user_id"),
        Index("ix_document_read_tasks_distribution_id", "distribution_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    distribution_id: Mapped[int] = mapped_column(ForeignKey("document_distributions.id"), nullable=False)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    login: Mapped[str] = mapped_column(String(64), nullable=False)
    full_name: Mapped[str] = mapped_column(String(128), nullable=False)
    resolved_via: Mapped[str] = mapped_column(String(200), nullable=False)  # "role:qa_reviewer"
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Set by the acknowledgement; its signature ("acknowledged") covers the task as acknowledged and is
    # found through the signatures table (object type "document_read_task", this ID).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DocumentCopy(Audited, Base):
    """A printed copy of a version (打印件): controlled and numbered, or uncontrolled and recorded only."""

    __tablename__ = "document_copies"
    __audit_type__ = "document_copy"
    __audit_label__ = N_("Printed copy of a controlled document")
    __table_args__ = (
        CheckConstraint("kind IN ('controlled', 'uncontrolled')", name="kind"),
        # TJ-9.2: controlled copies are numbered 1, 2, … per version; reference copies carry no number.
        CheckConstraint(
            "(kind = 'controlled' AND copy_no IS NOT NULL AND copy_no >= 1)"
            " OR (kind = 'uncontrolled' AND copy_no IS NULL)",
            name="copy_no",
        ),
        UniqueConstraint("version_id", "copy_no"),
        # A copy is destroyed only after it came back; an uncontrolled copy is not recalled.
        CheckConstraint("destroyed_at IS NULL OR returned_at IS NOT NULL", name="destroyed_after_return"),
        CheckConstraint("returned_at IS NULL OR kind = 'controlled'", name="only_controlled_returned"),
        CheckConstraint(
            "(destroyed_at IS NULL AND destroyed_by IS NULL AND destruction_witness IS NULL"
            " AND destruction_method IS NULL)"
            " OR (destroyed_at IS NOT NULL AND destroyed_by IS NOT NULL AND destruction_witness IS NOT NULL"
            " AND destruction_method IN ('shredding', 'incineration', 'pulping', 'other'))",
            name="destruction_complete",
        ),
        CheckConstraint("destruction_witness IS NULL OR destruction_witness <> destroyed_by", name="witness"),
        CheckConstraint("(returned_at IS NULL) = (returned_by IS NULL)", name="return_complete"),
        Index("ix_document_copies_version_id", "version_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("document_versions.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    copy_no: Mapped[int | None] = mapped_column(Integer, nullable=True)
    printer: Mapped[str] = mapped_column(String(128), nullable=False)  # the printer (device) used
    recipient: Mapped[str] = mapped_column(String(128), nullable=False)  # who holds the copy
    location: Mapped[str] = mapped_column(String(200), nullable=False, default="")  # where it is kept
    purpose: Mapped[str] = mapped_column(String(500), nullable=False)
    pages: Mapped[int] = mapped_column(Integer, nullable=False)
    printed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    printed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    printed_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    returned_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # who received it back
    return_note: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    destroyed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    destruction_witness: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a user's log-in
    destruction_method: Mapped[str | None] = mapped_column(String(16), nullable=True)
