"""Certificates of analysis (检验报告书) and the release of incoming lots on them (TJ-7.1, TJ-9.1, TJ-5.2.1.4/5).

* **Issue** (:func:`issue`): the certificate of a lot against one effective release specification version. Only
  when every test item of that version has an approved result (second-person review, TJ-7.4) in a test order of
  the lot's samples against that version; a failing item counts only once its OOS result itself was reviewed and
  approved (the value is confirmed), and the certificate names the OOS case. The content — lot, material,
  supplier or planting base, specification code, version and SM3, each item with its reported value, unit, limit
  and verdict, analysts and reviewers, the conclusion 符合规定 / 不符合规定 — is frozen as canonical JSON with its
  SM3; the database refuses any change to it.
* **Sign** (:func:`sign`): a QC reviewer (``lims.result.review``) signs ``lims.certificate.sign`` on a signoff row
  naming the content hash. Never an analyst of any result version on the certificate (read from the results);
  the content must still hash as issued and every result on it must still be the approved latest version.
* **Decide** (:func:`decide`): QA (the Qualified Person) releases or rejects the lot *from* the signed
  certificate through the warehouse seam (:func:`pharmatrace.wms.lots.release` / ``reject``, which sign
  ``lot.release`` / ``lot.reject`` and, for a rejected herb lot, tell its planting base, TJ-5.2.1.5). A
  non-conforming certificate leads to rejection only.
* **The gate** (:func:`require_release_certificate`, called by ``wms.lots.release``): a lot whose material has
  an effective release specification is released only on a signed, conforming certificate for each of them.
  A lot received before the material's electronic release specification first came into force, and never
  ordered for testing in the LIMS since, was tested on the paper standard of the time: the gate leaves it to
  QA's signed decision (the demo's older lots).
* **Void** (:func:`void`): a certificate not yet decided on is voided with a reason (a wrong one is re-issued);
  nothing is deleted. Printing and exporting are recorded in the audit trail (:func:`record_output`).

Every refusal raises a typed error and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import results, samples, specs
from pharmatrace.lims.certificate_models import Certificate, CertificateSignoff, LotDecision
from pharmatrace.lims.certificate_schemas import (
    CertificateDetail,
    CertificateIssue,
    CertificateLine,
    CertificatePublic,
    CertificateSign,
    LotDecisionCreate,
    LotDecisionPublic,
    SignoffPublic,
)
from pharmatrace.lims.result_models import LabResult, LabTest, TestOrder
from pharmatrace.lims.specs_models import SpecificationVersion
from pharmatrace.wms.models import Lot

ISSUE_PERMISSIONS = ("lims.result.enter", "lims.result.review")
SIGN_PERMISSION = "lims.result.review"
SIGN_ACTION = "lims.certificate.sign"  # the signable action (kernel/esign/policy.py)
SIGNOFF_TYPE = "lims_certificate_signoff"
AUDIT_TYPE = "lims_certificate"
OUTPUTS = ("html", "pdf")

STATES = ("issued", "signed", "released", "rejected", "void")
STATE_LABELS = {
    "issued": N_("Issued, awaiting signature"),
    "signed": N_("Signed, awaiting QA decision"),
    "released": N_("Lot released"),
    "rejected": N_("Lot rejected"),
    "void": N_("Void"),
}
CONCLUSION_LABELS = {"conforms": N_("Conforms"), "does_not_conform": N_("Does not conform")}
DECISION_LABELS = {"release": N_("Release"), "reject": N_("Reject")}
ANSWER_LABELS = {"conforms": N_("Conforms"), "does_not_conform": N_("Does not conform")}


class CertificateIncomplete(Conflict):
    """A certificate is issued only when every test item has an approved result (TJ-7.4)."""

    code = "certificate_incomplete"


class CertificateDuties(NotPermitted):
    """An analyst of a result on the certificate may not sign it (segregation of duties, TJ-7.4)."""

    code = "certificate_duties"


class ReleaseRefused(Conflict):
    """A lot is released only on a signed conforming certificate of analysis (TJ-5.2.1.4)."""

    code = "release_needs_certificate"


# --- finding ---------------------------------------------------------------------------------------------


def get_certificate(session: Session, certificate_id: int) -> Certificate:
    found = session.get(Certificate, certificate_id)
    if found is None:
        raise NotFound(N_("No certificate of analysis {id}"), id=certificate_id)
    return found


def certificate_by_code(session: Session, code: str) -> Certificate:
    found = session.scalar(select(Certificate).where(Certificate.code == code.strip().upper()))
    if found is None:
        raise NotFound(N_("No certificate of analysis {code}"), code=code.strip())
    return found


def certificates_of_lot(session: Session, lot_id: int) -> list[Certificate]:
    query = select(Certificate).where(Certificate.lot_id == lot_id).order_by(Certificate.id)
    return list(session.scalars(query).unique())


def state_of(certificate: Certificate) -> str:
    if certificate.voided_at is not None:
        return "void"
    if certificate.decisions:
        return "released" if certificate.decisions[-1].decision == "release" else "rejected"
    return "signed" if certificate.signoffs else "issued"


def list_certificates(
    session: Session, *, state: str = "", text: str = "", limit: int = 300
) -> list[Certificate]:
    found = list(session.scalars(select(Certificate).order_by(Certificate.id.desc()).limit(limit)).unique())
    needle = text.strip().upper()
    if needle:
        found = [c for c in found if needle in c.code or needle in c.lot_number.upper()
                 or needle in c.material_code or needle in c.material_name.upper()]  # fmt: skip
    if state:
        found = [c for c in found if state_of(c) == state]
    return found


def content_of(certificate: Certificate) -> dict[str, Any]:
    loaded = json.loads(certificate.content)
    assert isinstance(loaded, dict)
    return loaded


def content_hash(content: dict[str, Any]) -> str:
    return crypto.sm3(ledger.canonical(content)).hex()


def intact(certificate: Certificate) -> bool:
    """Whether the frozen content still hashes to the SM3 it was issued (and signed) with."""
    return content_hash(content_of(certificate)) == certificate.content_sm3


# --- what a certificate reports ----------------------------------------------------------------------------


def _shown(result: LabResult) -> str:
    if result.reported is not None:
        return result.reported
    if result.answer is not None:
        return result.answer
    return result.text_result or ""


def _chosen(tests: list[LabTest]) -> tuple[LabTest, LabResult, str | None] | None:
    """The test of an item the certificate reports: the latest approved one; else an OOS test whose failing
    result was itself reviewed and approved (the value confirmed); None when neither exists."""
    best: tuple[LabTest, LabResult, str | None] | None = None
    for test in tests:
        last = results.latest(test)
        decided = results.decision_of(last) if last is not None else None
        if last is None or decided is None or decided.decision != results.DECIDED:
            continue
        case = results.open_case(test)
        reportable = results.test_state(test) == "approved" or case is not None
        if reportable and (best is None or last.tested_at >= best[1].tested_at):
            best = (test, last, case.code if case is not None else None)
    return best


def _orders(session: Session, lot: Lot, version: SpecificationVersion) -> list[TestOrder]:
    query = select(TestOrder).where(
        TestOrder.lot_id == lot.id, TestOrder.spec_version_id == version.id, TestOrder.voided_at.is_(None)
    )
    return list(session.scalars(query.order_by(TestOrder.id)).unique())


def _lines(
    session: Session, lot: Lot, version: SpecificationVersion
) -> tuple[list[dict[str, Any]], list[LabTest]]:
    """Each item of the version as reported, and every test used (for their analysts); refuses missing items."""
    orders = _orders(session, lot, version)
    if not orders:
        raise CertificateIncomplete(N_("The lot {lot} has no test order against {spec} v{version}"),
                                    lot=lot.lot_number, spec=version.specification.code,
                                    version=version.version)  # fmt: skip
    lines, used, missing = [], [], []
    for item in version.items:
        chosen = _chosen([t for o in orders for t in o.tests if t.spec_item_id == item.id])
        if chosen is None:
            missing.append(item.name)
            continue
        test, result, case = chosen
        decided = results.decision_of(result)
        assert decided is not None
        verdict = "fail" if case is not None else results.verdict_of(result)
        used.append(test)
        lines.append({
            "position": item.position, "item": item.name, "method": result.method, "result": _shown(result),
            "unit": result.unit, "limit": result.limit_text, "verdict": verdict, "analyst": result.entered_by,
            "analyst_name": result.entered_by_name, "reviewer": decided.reviewed_by,
            "reviewer_name": decided.reviewed_by_name, "tested_at": result.tested_at.isoformat(),
            "order_code": test.order.code, "result_id": result.id,
            "result_sm3": result.content_sm3, "oos_case": case,
        })  # fmt: skip
    if missing:
        raise CertificateIncomplete(
            N_("The certificate cannot be issued: {items} of {spec} v{version} have no approved result"),
            items="、".join(missing), spec=version.specification.code, version=version.version,
        )  # fmt: skip
    return lines, used


def _origin(session: Session, lot: Lot) -> str:
    from pharmatrace.origin.service import origin_of

    found = origin_of(session, lot.id)
    if found is None:
        return ""
    shipment = found.shipment
    return f"{shipment.base.supplier.name} · {shipment.code}"


def _content(session: Session, lot: Lot, version: SpecificationVersion, code: str,
             lines: list[dict[str, Any]], used: list[LabTest]) -> dict[str, Any]:  # fmt: skip
    conclusion = "does_not_conform" if any(line["verdict"] == "fail" for line in lines) else "conforms"
    orders = sorted({t.order.code for t in used})
    return {
        "code": code, "lot_id": lot.id, "lot_number": lot.lot_number, "material_code": lot.material.code,
        "material_name": lot.material.name, "supplier_code": lot.supplier.code, "supplier_name": lot.supplier.name,
        "supplier_lot": lot.supplier_lot, "origin": _origin(session, lot), "quantity": str(lot.quantity),
        "unit": lot.unit, "manufacture_date": lot.manufacture_date.isoformat(),
        "expiry_date": lot.expiry_date.isoformat() if lot.expiry_date else None,
        "spec_code": version.specification.code, "spec_version": version.version, "spec_title": version.title,
        "spec_sm3": version.content_sm3, "basis": version.basis, "orders": orders,
        "samples": sorted({t.order.sample_code for t in used}), "lines": lines, "conclusion": conclusion,
    }  # fmt: skip


def _version_for(session: Session, lot: Lot, spec_code: str | None) -> SpecificationVersion:
    found = specs.effective_specs(session, lot.material.code, "release")
    if spec_code is not None:
        found = [v for v in found if v.specification.code == spec_code]
        if not found:
            raise Conflict(N_("{spec} is not an effective release specification of {material}"), spec=spec_code,
                           material=lot.material.code)  # fmt: skip
    if len(found) != 1:
        raise Conflict(N_("Choose the release specification for {material}: {choices}"), material=lot.material.code,
                       choices=", ".join(v.specification.code for v in found) or "—")  # fmt: skip
    return found[0]


# --- issue, sign, void (TJ-7.1, TJ-9.1) ------------------------------------------------------------------


def issue(uow: UnitOfWork, principal: Principal, data: CertificateIssue) -> Certificate:
    """Issue the certificate of a lot: every release test item approved; the content frozen with its SM3."""
    if not any(principal.can(p) for p in ISSUE_PERMISSIONS):
        raise NotPermitted(
            N_("Issuing a certificate of analysis needs permission to enter or review results")
        )
    session = uow.session
    lot = samples.find_lot(session, data.lot)
    if lot.voided_at is not None:
        raise Conflict(N_("The lot {lot} is void"), lot=lot.lot_number)
    version = _version_for(session, lot, data.spec_code)
    taken = session.scalar(select(Certificate.code).where(
        Certificate.lot_id == lot.id, Certificate.spec_version_id == version.id, Certificate.voided_at.is_(None),
    ))  # fmt: skip
    if taken is not None:
        raise Conflict(N_("The lot {lot} has a certificate against {spec} v{version} already: {code}"),
                       lot=lot.lot_number, spec=version.specification.code, version=version.version,
                       code=taken)  # fmt: skip
    lines, used = _lines(session, lot, version)
    code = samples.next_code(session, "COA")
    content = _content(session, lot, version, code, lines, used)
    uow.reason = uow.reason or f"certificate of analysis {code} issued"
    certificate = Certificate(
        code=code, lot_id=lot.id, lot_number=lot.lot_number, material_code=lot.material.code,
        material_name=lot.material.name, spec_version_id=version.id, spec_code=version.specification.code,
        spec_version=version.version, spec_sm3=version.content_sm3, conclusion=content["conclusion"],
        content=ledger.canonical_text(content), content_sm3=content_hash(content), issued_at=clock.now(),
        issued_by=principal.login, issued_by_name=principal.full_name,
    )  # fmt: skip
    session.add(certificate)
    session.flush()
    return certificate


def analysts_of(session: Session, certificate: Certificate) -> set[str]:
    """Everyone who entered any version of a result the certificate reports (read from the results)."""
    found: set[str] = set()
    for line in content_of(certificate)["lines"]:
        test = results.get_result(session, line["result_id"]).test
        found |= {r.entered_by for r in test.results}
    return found


def _still_current(session: Session, certificate: Certificate) -> None:
    """Every result on the certificate is still the latest, approved version of its test."""
    for line in content_of(certificate)["lines"]:
        result = results.get_result(session, line["result_id"])
        decided = results.decision_of(result)
        if (
            results.latest(result.test) is not result
            or decided is None
            or decided.decision != results.DECIDED
        ):
            raise Conflict(N_("The result of {item} changed after the certificate {code} was issued: void it and "
                              "issue a new one"), item=line["item"], code=certificate.code)  # fmt: skip


def _open(session: Session, certificate_id: int) -> Certificate:
    certificate = get_certificate(session, certificate_id)
    if certificate.voided_at is not None:
        raise Conflict(N_("The certificate {code} is void"), code=certificate.code)
    return certificate


def sign(
    uow: UnitOfWork, principal: Principal, certificate_id: int, data: CertificateSign
) -> CertificateSignoff:
    """The QC reviewer's signature (``lims.certificate.sign``) on a signoff row naming the content hash."""
    principal.require(SIGN_PERMISSION)
    session = uow.session
    certificate = _open(session, certificate_id)
    if certificate.signoffs:
        raise Conflict(N_("The certificate {code} is signed already"), code=certificate.code)
    if principal.login in analysts_of(session, certificate):
        raise CertificateDuties(N_("An analyst of a result on the certificate may not sign it"))
    if not intact(certificate):
        raise Conflict(
            N_("The content of the certificate {code} does not match its hash"), code=certificate.code
        )
    _still_current(session, certificate)
    esign.authenticate_signer(uow.db, principal, data.password, data.login)
    uow.reason = uow.reason or f"certificate of analysis {certificate.code} signed"
    row = CertificateSignoff(
        certificate_id=certificate.id, content_sm3=certificate.content_sm3, signed_at=clock.now(),
        signed_by=principal.login, signed_by_name=principal.full_name, comment=data.comment,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, row, action_code=SIGN_ACTION, password=data.password,
                              login=data.login)  # fmt: skip
    session.refresh(certificate, ["signoffs"])
    return row


def void(uow: UnitOfWork, principal: Principal, certificate_id: int, reason: str) -> Certificate:
    """Void a certificate QA has not decided on yet (a wrong one, or results corrected after issue)."""
    if not any(principal.can(p) for p in ISSUE_PERMISSIONS):
        raise NotPermitted(
            N_("Voiding a certificate of analysis needs permission to enter or review results")
        )
    certificate = _open(uow.session, certificate_id)
    if certificate.decisions:
        raise Conflict(N_("QA has decided on the lot from the certificate {code}: it is kept as it is"),
                       code=certificate.code)  # fmt: skip
    uow.void(certificate, reason)
    return certificate


# --- QA's decision and the release gate (TJ-5.2.1.4, TJ-5.2.1.5) ------------------------------------------


def decide(
    uow: UnitOfWork, principal: Principal, certificate_id: int, data: LotDecisionCreate
) -> LotDecision:
    """Release or reject the lot from the signed certificate, through the warehouse seam (which signs the lot
    ``lot.release`` / ``lot.reject`` and tells a rejected herb lot's base). Non-conforming: rejection only."""
    from pharmatrace.wms import lots
    from pharmatrace.wms.signing import require_permission

    require_permission(principal, "lot.release" if data.decision == "release" else "lot.reject")
    session = uow.session
    certificate = _open(session, certificate_id)
    if not certificate.signoffs:
        raise Conflict(N_("The certificate {code} is not signed yet: QA decides on a signed certificate"),
                       code=certificate.code)  # fmt: skip
    if certificate.decisions:
        raise Conflict(N_("QA has decided on the certificate {code} already"), code=certificate.code)
    if data.decision == "release" and certificate.conclusion != "conforms":
        raise ReleaseRefused(N_("The certificate {code} does not conform: the lot {lot} is rejected, not released"),
                             code=certificate.code, lot=certificate.lot_number)  # fmt: skip
    if not intact(certificate):
        raise Conflict(
            N_("The content of the certificate {code} does not match its hash"), code=certificate.code
        )
    uow.reason = data.reason
    event = lots.release if data.decision == "release" else lots.reject
    event(uow, principal, certificate.lot_id, data.password, data.login)  # checks, changes the lot, signs it
    row = LotDecision(
        certificate_id=certificate.id, lot_id=certificate.lot_id, decision=data.decision,
        content_sm3=certificate.content_sm3, reason=data.reason, decided_at=clock.now(), decided_by=principal.login,
        decided_by_name=principal.full_name,
    )  # fmt: skip
    session.add(row)
    session.flush()
    session.refresh(certificate, ["decisions"])
    return row


def _first_in_force(versions: Iterable[SpecificationVersion]) -> datetime | None:
    """When the first version of any of these specifications came into force."""
    moments = [v.approved_at for version in versions for v in version.specification.versions if v.approved_at]
    return min(moments) if moments else None


def require_release_certificate(session: Session, lot: Lot) -> None:
    """The release gate ``wms.lots.release`` calls (TJ-5.2.1.4): a signed conforming certificate for each
    effective release specification of the lot's material; refuses (changing nothing) otherwise."""
    versions = specs.effective_specs(session, lot.material.code, "release")
    if not versions:
        return
    ordered = session.scalar(
        select(TestOrder.id).where(TestOrder.lot_id == lot.id, TestOrder.voided_at.is_(None)).limit(1)
    )
    first = _first_in_force(versions)
    if ordered is None and first is not None and lot.created_at < first:
        return  # received and tested on the paper standard before the electronic specification was in force
    signed = [c for c in certificates_of_lot(session, lot.id) if c.voided_at is None and c.signoffs]
    for version in versions:
        mine = [c for c in signed if c.spec_version_id == version.id]
        failing = next((c for c in mine if c.conclusion != "conforms"), None)
        if failing is not None:
            raise ReleaseRefused(N_("The certificate {code} does not conform: the lot {lot} is rejected, not "
                                    "released"), code=failing.code, lot=lot.lot_number)  # fmt: skip
        if not mine:
            raise ReleaseRefused(
                N_("The lot {lot} is released only on a signed certificate of analysis conforming to {spec} "
                   "v{version}"),
                lot=lot.lot_number, spec=version.specification.code, version=version.version,
            )  # fmt: skip


# --- output and reading ----------------------------------------------------------------------------------


def record_output(uow: UnitOfWork, certificate: Certificate, output: str) -> None:
    """A certificate printed or exported (HTML print view, PDF) is recorded in the audit trail."""
    uow.record(f"lims.certificate.{output}", AUDIT_TYPE, certificate.id,
               changes={"code": [None, certificate.code], "content_sm3": [None, certificate.content_sm3]},
               reason=uow.reason or f"certificate of analysis {certificate.code} output as {output}")  # fmt: skip


def certificate_public(certificate: Certificate) -> CertificatePublic:
    return CertificatePublic(
        id=certificate.id, code=certificate.code, state=state_of(certificate), lot_id=certificate.lot_id,
        lot_number=certificate.lot_number, material_code=certificate.material_code,
        material_name=certificate.material_name, spec_code=certificate.spec_code,
        spec_version=certificate.spec_version, conclusion=certificate.conclusion,
        content_sm3=certificate.content_sm3, issued_at=certificate.issued_at, issued_by=certificate.issued_by,
        issued_by_name=certificate.issued_by_name, voided_at=certificate.voided_at,
        void_reason=certificate.void_reason,
    )  # fmt: skip


def signoff_public(session: Session, row: CertificateSignoff) -> SignoffPublic:
    signed = esign.manifestations(session, SIGNOFF_TYPE, str(row.id))
    return SignoffPublic(
        id=row.id, content_sm3=row.content_sm3, signed_at=row.signed_at, signed_by=row.signed_by,
        signed_by_name=row.signed_by_name, comment=row.comment, status=signed[0].status if signed else "invalid",
    )  # fmt: skip


def certificate_detail(session: Session, certificate: Certificate) -> CertificateDetail:
    content = content_of(certificate)
    decision = certificate.decisions[-1] if certificate.decisions else None
    return CertificateDetail(
        **certificate_public(certificate).model_dump(), spec_title=content["spec_title"],
        spec_sm3=content["spec_sm3"], basis=content["basis"], supplier_code=content["supplier_code"],
        supplier_name=content["supplier_name"], supplier_lot=content["supplier_lot"], origin=content["origin"],
        quantity=content["quantity"], unit=content["unit"], manufacture_date=content["manufacture_date"],
        expiry_date=content["expiry_date"], orders=content["orders"], sample_codes=content["samples"],
        lines=[CertificateLine.model_validate(line) for line in content["lines"]], intact=intact(certificate),
        signoff=signoff_public(session, certificate.signoffs[0]) if certificate.signoffs else None,
        decision=LotDecisionPublic(
            id=decision.id, decision=decision.decision, reason=decision.reason, decided_at=decision.decided_at,
            decided_by=decision.decided_by, decided_by_name=decision.decided_by_name,
        ) if decision is not None else None,
    )  # fmt: skip
