"""Signing keys and signatures. Signatures are never edited or deleted (database triggers refuse it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.kernel.audit import Audited
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime


class UserKey(Base):
    """A user's SM2 key pair; the private half encrypted under a key derived from the user's own password
    (Electronic Signature Law art. 13: the signing data is under the signatory's sole control)."""

    __tablename__ = "user_keys"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False, index=True)
    fingerprint: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65), nullable=False)
    encrypted_private_key: Mapped[bytes] = mapped_column(LargeBinary(64), nullable=False)
    salt: Mapped[bytes] = mapped_column(LargeBinary(16), nullable=False)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12), nullable=False)
    iterations: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Signature(Audited, Base):
    """One electronic signature: who, meaning, when (server time), and the SM3 hash of the record version
    signed, all covered by the signer's SM2 signature (TJ-B.2.6, SH-7.1.4.b/e)."""

    __tablename__ = "signatures"
    __audit_type__ = "signature"
    __table_args__ = (
        CheckConstraint("step IN (1, 2)", name="step"),
        Index("ix_signatures_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    object_type: Mapped[str] = mapped_column(String(64), nullable=False)
    object_id: Mapped[str] = mapped_column(String(128), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    meaning: Mapped[str] = mapped_column(String(32), nullable=False)
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), nullable=False)
    signer_login: Mapped[str] = mapped_column(String(64), nullable=False)
    signer_name: Mapped[str] = mapped_column(String(128), nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    record_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    key_fingerprint: Mapped[str] = mapped_column(String(16), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary(80), nullable=False)
