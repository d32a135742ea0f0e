"""``/api/v1/lims/certificates``: certificates of analysis and QA's release decisions on them (TJ-7.1, TJ-5.2.1.4).

Reading needs ``lims.view``; issuing and voiding ``lims.result.enter`` or ``lims.result.review`` (checked by the
service); signing ``lims.result.review`` (and never an analyst of a result on it); the decision the lot-release
signature's permission (``wms.material.approve``, checked by the warehouse seam). The PDF is recorded as printed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.lims import certificate_pdf, certificates
from pharmatrace.lims.certificate_schemas import (
    CertificateDetail,
    CertificateIssue,
    CertificatePublic,
    CertificateSign,
    CertificateVoid,
    LotDecisionCreate,
)
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires, uow_for

router = APIRouter(tags=["lims"])

LimsView = Annotated[Principal, Depends(Requires("lims.view"))]
Reviewer = Annotated[Principal, Depends(Requires("lims.result.review"))]
Decider = Annotated[Principal, Depends(Requires("wms.material.approve"))]


@router.get("/lims/certificates", response_model=list[CertificatePublic])
def list_certificates(db: DbDep, _: LimsView, state: str = "", q: str = "") -> list[CertificatePublic]:
    """Certificates, newest first; ``q`` matches the code, lot number or material."""
    with db.sessions() as session:
        return [certificates.certificate_public(c) for c in certificates.list_certificates(session, state=state,
                                                                                            text=q)]  # fmt: skip


@router.post("/lims/certificates", response_model=CertificateDetail, status_code=201)
def issue_certificate(body: CertificateIssue, db: DbDep, principal: LimsView) -> CertificateDetail:
    """Issue the certificate of a lot against its release specification (every item approved)."""
    with uow_for(db, principal) as uow:
        made = certificates.issue(uow, principal, body)
        uow.commit()
        return certificates.certificate_detail(uow.session, made)


@router.get("/lims/certificates/{certificate_id}", response_model=CertificateDetail)
def get_certificate(certificate_id: int, db: DbDep, _: LimsView) -> CertificateDetail:
    with db.sessions() as session:
        return certificates.certificate_detail(session, certificates.get_certificate(session, certificate_id))


@router.post("/lims/certificates/{certificate_id}/sign", response_model=CertificateDetail)
def sign_certificate(
    certificate_id: int, body: CertificateSign, db: DbDep, principal: Reviewer
) -> CertificateDetail:
    """The QC reviewer's signature (``lims.certificate.sign``)."""
    with uow_for(db, principal) as uow:
        certificates.sign(uow, principal, certificate_id, body)
        uow.commit()
        return certificates.certificate_detail(
            uow.session, certificates.get_certificate(uow.session, certificate_id)
        )


@router.post("/lims/certificates/{certificate_id}/void", response_model=CertificateDetail)
def void_certificate(
    certificate_id: int, body: CertificateVoid, db: DbDep, principal: LimsView
) -> CertificateDetail:
    with uow_for(db, principal, body.reason) as uow:
        made = certificates.void(uow, principal, certificate_id, body.reason)
        uow.commit()
        return certificates.certificate_detail(uow.session, made)


@router.post("/lims/certificates/{certificate_id}/decision", response_model=CertificateDetail)
def decide_lot(
    certificate_id: int, body: LotDecisionCreate, db: DbDep, principal: Decider
) -> CertificateDetail:
    """QA releases or rejects the lot from the signed certificate (signed on the lot)."""
    with uow_for(db, principal, body.reason) as uow:
        certificates.decide(uow, principal, certificate_id, body)
        uow.commit()
        return certificates.certificate_detail(
            uow.session, certificates.get_certificate(uow.session, certificate_id)
        )


@router.get("/lims/certificates/{certificate_id}/pdf")
def certificate_pdf_file(certificate_id: int, db: DbDep, principal: LimsView) -> Response:
    """The certificate as PDF; the export is recorded in the audit trail."""
    with uow_for(db, principal) as uow:
        certificate = certificates.get_certificate(uow.session, certificate_id)
        detail = certificates.certificate_detail(uow.session, certificate)
        data = certificate_pdf.render_pdf(detail, printed_by=principal.full_name, printed_at=clock.now(),
                                          translate=i18n.gettext)  # fmt: skip
        certificates.record_output(uow, certificate, "pdf")
        uow.commit()
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="{detail.code}.pdf"'})  # fmt: skip
