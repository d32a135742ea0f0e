"""Inputs and outputs of certificates of analysis and the release decisions made on them (TJ-7.1, TJ-5.2.1.4).

The edge checks the shape (a lot reference, a password, a reason for a void or a decision); the service checks
the plant (every release test item approved, the signer not an analyst, the certificate signed before QA decides,
a non-conforming certificate never released) and the database holds the same rules (migration 0029).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from pharmatrace.kernel.identity.schemas import Password, Reason, Strict

Conclusion = Literal["conforms", "does_not_conform"]
LotDecisionKind = Literal["release", "reject"]
LotRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
SpecCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=32)
]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class CertificateIssue(Strict):
    """Issue the certificate of a lot (internal lot number, supplier lot or a container code) against its
    release specification; ``spec_code`` only when the material has several effective release specifications."""

    lot: LotRef
    spec_code: SpecCode | None = None


class CertificateSign(Strict):
    """The QC reviewer's signature of the certificate (log-in ID needed for the first signature of a session)."""

    comment: Note = ""
    password: Password
    login: str | None = None


class CertificateVoid(Strict):
    reason: Reason


class LotDecisionCreate(Strict):
    """QA's release or rejection of the lot from the signed certificate, with the reason, signed on the lot."""

    decision: LotDecisionKind
    reason: Reason
    password: Password
    login: str | None = None


# --- outputs ---------------------------------------------------------------------------------------------


class CertificateLine(BaseModel):
    """One test item as the certificate reports it."""

    position: int
    item: str
    method: str
    result: str  # the reported value, the answer or the description, as shown
    unit: str
    limit: str
    verdict: str  # pass / fail
    analyst: str
    analyst_name: str
    reviewer: str
    reviewer_name: str
    tested_at: datetime
    order_code: str
    result_id: int
    result_sm3: str
    oos_case: str | None = None


class SignoffPublic(BaseModel):
    id: int
    content_sm3: str
    signed_at: datetime
    signed_by: str
    signed_by_name: str
    comment: str
    status: str  # of the e-signature: valid / changed / invalid


class LotDecisionPublic(BaseModel):
    id: int
    decision: str
    reason: str
    decided_at: datetime
    decided_by: str
    decided_by_name: str


class CertificatePublic(BaseModel):
    id: int
    code: str
    state: str  # issued / signed / released / rejected / void
    lot_id: int
    lot_number: str
    material_code: str
    material_name: str
    spec_code: str
    spec_version: int
    conclusion: str
    content_sm3: str
    issued_at: datetime
    issued_by: str
    issued_by_name: str
    voided_at: datetime | None
    void_reason: str | None


class CertificateDetail(CertificatePublic):
    spec_title: str
    spec_sm3: str
    basis: str
    supplier_code: str
    supplier_name: str
    supplier_lot: str
    origin: str  # the planting base and shipment of a herb lot, else ""
    quantity: str
    unit: str
    manufacture_date: str
    expiry_date: str | None
    orders: list[str]
    sample_codes: list[str]
    lines: list[CertificateLine]
    intact: bool  # the frozen content still hashes to content_sm3
    signoff: SignoffPublic | None
    decision: LotDecisionPublic | None
