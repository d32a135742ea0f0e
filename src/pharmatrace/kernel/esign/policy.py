"""The registry of signable actions and what each needs (SH-7.1.4.a, SH-7.1.4.c), declared as data.

Each action names the record type it signs and its steps: one step is a single signature, two steps a
dual signature by two different people. Each step has a meaning and the permission its signer needs.
Business areas add their actions here as they are built (batch step sign-off, release, …).

An action ``with_event`` is signed only together with its record's event (QA release, receipt completion):
the event changes the record and the signature, given last in the same transaction, covers the version the
event leaves. The business area signs it through :func:`pharmatrace.kernel.esign.service.sign_with_event`;
the generic signing page and API refuse it on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pharmatrace.kernel.errors import N_

MEANINGS: dict[str, str] = {
    "performed": N_("Performed"),
    "verified": N_("Verified"),
    "reviewed": N_("Reviewed"),
    "approved": N_("Approved"),
    "released": N_("Released"),
    "rejected": N_("Rejected"),
    "acknowledged": N_("Read and understood"),  # TJ-9.2: a distributed document read (pharmatrace.documents)
}


@dataclass(frozen=True, slots=True)
class Step:
    meaning: str
    permission: str


@dataclass(frozen=True, slots=True)
class SignableAction:
    code: str
    object_type: str
    label: str  # gettext msgid
    steps: tuple[Step, ...]
    with_event: bool = False  # signed only together with its record's event, never on its own

    @property
    def dual(self) -> bool:
        return len(self.steps) > 1


ACTIONS: tuple[SignableAction, ...] = (
    SignableAction(
        "material.approve",
        "material",
        N_("Approve material master data"),
        (Step("approved", "wms.material.approve"),),
    ),
    SignableAction(
        "material.review",
        "material",
        N_("Review and approve material master data (two people)"),
        (Step("reviewed", "wms.material.manage"), Step("approved", "wms.material.approve")),
    ),
    # Signed as part of their event (pharmatrace.wms.receipts / wms.lots): the event changes the record
    # and the signature covers the version it leaves.
    SignableAction(
        "receipt.complete",
        "receipt",
        N_("Complete a goods receipt (signed by the receiver)"),
        (Step("performed", "wms.lot.receive"),),
        with_event=True,
    ),
    SignableAction(
        "lot.release",
        "lot",
        N_("Release a material lot (QA)"),
        (Step("released", "wms.material.approve"),),
        with_event=True,
    ),
    SignableAction(
        "lot.reject",
        "lot",
        N_("Reject a material lot (QA)"),
        (Step("rejected", "wms.material.approve"),),
        with_event=True,
    ),
    # TJ-9.2: the recipient of a distributed document acknowledges it, signed with the acknowledgement
    # (pharmatrace.documents.distribution); only their own task, so never offered on the generic panel.
    SignableAction(
        "document.acknowledge",
        "document_read_task",
        N_("Acknowledge a controlled document as read and understood"),
        (Step("acknowledged", "documents.view"),),
        with_event=True,
    ),
    # TJ-6.4.3.1 master recipes (pharmatrace.mes.recipes): signed on the decision row, which names the
    # body's SM3 hash; reviewer and approver are two people other than the author (checked by the service).
    SignableAction(
        "recipe.review",
        "recipe_decision",
        N_("Review a master recipe version"),
        (Step("reviewed", "mes.batch.review"),),
        with_event=True,
    ),
    SignableAction(
        "recipe.approve",
        "recipe_decision",
        N_("Approve a master recipe version (QA)"),
        (Step("approved", "mes.recipe.approve"),),
        with_event=True,
    ),
    # TJ-9.3, TJ-10.2: the trainee confirms the self-study of a document version (pharmatrace.training).
    SignableAction(
        "training.self_study",
        "training_record",
        N_("Confirm self-study of a document version (read and understood)"),
        (Step("performed", "training.take"),),
        with_event=True,
    ),
    # TJ-9.3, TJ-10.2: the trainer signs the result of a practical assessment as it is recorded; the trainer
    # is never the trainee (pharmatrace.training.assessments).
    SignableAction(
        "training.practical",
        "training_assessment_attempt",
        N_("Sign the result of a practical training assessment (trainer)"),
        (Step("verified", "training.assess"),),
        with_event=True,
    ),
    # Controlled documents (pharmatrace.documents.service, SH-6.3.3, TJ-9.2): each decision record is
    # signed together with the decision; it carries the SM3 hash of the content it was given on.
    SignableAction(
        "document.review",
        "document_decision",
        N_("Review a controlled document version (QA)"),
        (Step("reviewed", "documents.review"),),
        with_event=True,
    ),
    SignableAction(
        "document.approve",
        "document_decision",
        N_("Approve a controlled document version"),
        (Step("approved", "documents.control"),),
        with_event=True,
    ),
    SignableAction(
        "document.periodic_review",
        "document_decision",
        N_("Periodic review of a controlled document"),
        (Step("reviewed", "documents.review"),),
        with_event=True,
    ),
    SignableAction(
        "document.withdraw",
        "document_decision",
        N_("Withdraw a controlled document"),
        (Step("approved", "documents.control"),),
        with_event=True,
    ),
    # TJ-6.4.3.3.c/d, TJ-6.4.3.2 batch execution (pharmatrace.mes.execution): each signature is given on its
    # own batch_signoffs row, which names the SM3 of what it covers (control recipe, step record, decision);
    # the second signature of a step is a different person (checked by the engine).
    SignableAction(
        "batch.release",
        "batch_signoff",
        N_("Release a batch order to the floor (supervisor)"),
        (Step("approved", "mes.batch.supervise"),),
        with_event=True,
    ),
    SignableAction(
        "batch.step.perform",
        "batch_signoff",
        N_("Sign a batch step as its performer"),
        (Step("performed", "mes.batch.execute"),),
        with_event=True,
    ),
    SignableAction(
        "batch.step.verify",
        "batch_signoff",
        N_("Verify a batch step (second person)"),
        (Step("verified", "mes.batch.supervise"),),
        with_event=True,
    ),
    SignableAction(
        "batch.step.supervise",
        "batch_signoff",
        N_("Sign a batch step as supervisor"),
        (Step("approved", "mes.batch.supervise"),),
        with_event=True,
    ),
    SignableAction(
        "batch.step.qa",
        "batch_signoff",
        N_("Sign a batch step as QA on the floor"),
        (Step("verified", "mes.batch.review"),),
        with_event=True,
    ),
    SignableAction(
        "batch.step.correct",
        "batch_signoff",
        N_("Re-sign a corrected batch record value (performer)"),
        (Step("performed", "mes.batch.execute"),),
        with_event=True,
    ),
    SignableAction(
        "batch.step.correct_supervised",
        "batch_signoff",
        N_("Re-sign a corrected batch record value (supervisor)"),
        (Step("approved", "mes.batch.supervise"),),
        with_event=True,
    ),
    SignableAction(
        "batch.exception.decide",
        "batch_signoff",
        N_("Decide on a batch exception (supervisor)"),
        (Step("approved", "mes.batch.supervise"),),
        with_event=True,
    ),
    # TJ-6.4.6 (pharmatrace.mes.packaging): the pre-packaging line check, signed by its performer and verified
    # by another person on its packaging_line_checks row.
    SignableAction(
        "packaging.line_check.perform",
        "packaging_line_check",
        N_("Sign a pre-packaging line check as its performer"),
        (Step("performed", "mes.batch.execute"),),
        with_event=True,
    ),
    SignableAction(
        "packaging.line_check.verify",
        "packaging_line_check",
        N_("Verify a pre-packaging line check (second person)"),
        (Step("verified", "mes.batch.execute"),),
        with_event=True,
    ),
    # TJ-6.4.7 (pharmatrace.mes.review): QA signs the review of a batch record on its batch_reviews row, which
    # names the SM3 of the reviewed record; the reviewer took no part in the batch (checked by the service).
    SignableAction(
        "batch.review",
        "batch_review",
        N_("Review a batch record and hand the batch to release (QA)"),
        (Step("reviewed", "mes.batch.review"),),
        with_event=True,
    ),
    # TJ-7.2 (pharmatrace.lims.specs): a specification version is approved on its lims_spec_decisions row, which
    # names the SM3 of the version's content; the approver did not write the version (checked by the service).
    SignableAction(
        "lims.spec.approve",
        "lims_spec_decision",
        N_("Approve a specification version (QA)"),
        (Step("approved", "lims.spec.approve"),),
        with_event=True,
    ),
    # TJ-7.6 (pharmatrace.lims.reagents): a volumetric solution is standardized by one analyst (初标) and
    # re-standardized by a second person (复标), each round signed on its lims_standardizations row; the
    # second person is never the first (checked by the service).
    SignableAction(
        "lims.standardization.perform",
        "lims_standardization",
        N_("Sign the standardization of a volumetric solution"),
        (Step("performed", "lims.reagent.manage"),),
        with_event=True,
    ),
    SignableAction(
        "lims.standardization.verify",
        "lims_standardization",
        N_("Verify the standardization of a volumetric solution (second person)"),
        (Step("verified", "lims.result.review"),),
        with_event=True,
    ),
    # TJ-7.4 (pharmatrace.lims.results): the second person approves or returns a result version, signed on
    # its lims_result_reviews row, which names the version's SM3; never the test's analyst (the service checks).
    SignableAction(
        "lims.result.review",
        "lims_result_review",
        N_("Review and approve a test result (second person)"),
        (Step("reviewed", "lims.result.review"),),
        with_event=True,
    ),
    SignableAction(
        "lims.result.return",
        "lims_result_review",
        N_("Return a test result to the analyst (second person)"),
        (Step("rejected", "lims.result.review"),),
        with_event=True,
    ),
    # SH-6.2.3 (pharmatrace.lims.stability): a stability protocol is approved on its lims_stability_approvals row,
    # which names the SM3 of the protocol; the approver did not write it (checked by the service).
    SignableAction(
        "lims.stability.approve",
        "lims_stability_approval",
        N_("Approve a stability study protocol (QA)"),
        (Step("approved", "lims.spec.approve"),),
        with_event=True,
    ),
    # TJ-6.4.4 (pharmatrace.qms.deviations): QA closes a deviation on its deviation_closures row, which names the
    # SM3 of the deviation's content; never whoever recorded it (the service and the database check).
    SignableAction(
        "qms.deviation.close",
        "deviation_closure",
        N_("Close a deviation (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # TJ-10.3 (pharmatrace.qms.changes): each approver function of a change request signs its approval on a
    # qms_change_decisions row, which names the SM3 of the change as submitted; QA signs the closure after the
    # verification of effectiveness. Never the proposer, one function per person (checked by the service).
    SignableAction(
        "qms.change.approve.qa",
        "qms_change_decision",
        N_("Approve a change request (QA)"),
        (Step("approved", "qms.change.manage"),),
        with_event=True,
    ),
    SignableAction(
        "qms.change.approve.production",
        "qms_change_decision",
        N_("Approve a change request (production head)"),
        (Step("approved", "mes.batch.supervise"),),
        with_event=True,
    ),
    SignableAction(
        "qms.change.approve.qc",
        "qms_change_decision",
        N_("Approve a change request (QC head)"),
        (Step("approved", "lims.result.review"),),
        with_event=True,
    ),
    SignableAction(
        "qms.change.approve.system_owner",
        "qms_change_decision",
        N_("Approve a change to a computerized system (system owner)"),
        (Step("approved", "qms.change.system_owner"),),
        with_event=True,
    ),
    *(
        SignableAction(
            f"qms.change.reject.{function}",
            "qms_change_decision",
            label,
            (Step("rejected", permission),),
            with_event=True,
        )
        for function, label, permission in (
            ("qa", N_("Reject a change request (QA)"), "qms.change.manage"),
            ("production", N_("Reject a change request (production head)"), "mes.batch.supervise"),
            ("qc", N_("Reject a change request (QC head)"), "lims.result.review"),
            (
                "system_owner",
                N_("Reject a change to a computerized system (system owner)"),
                "qms.change.system_owner",
            ),
        )
    ),
    SignableAction(
        "qms.change.close",
        "qms_change_decision",
        N_("Close a change after the verification of effectiveness (QA)"),
        (Step("approved", "qms.change.manage"),),
        with_event=True,
    ),
    # TJ-7.1, TJ-9.1 (pharmatrace.lims.certificates): a QC reviewer signs a certificate of analysis on its
    # lims_certificate_signoffs row, which names the SM3 of the frozen content; never an analyst of a result on it.
    SignableAction(
        "lims.certificate.sign",
        "lims_certificate_signoff",
        N_("Sign a certificate of analysis (QC reviewer)"),
        (Step("approved", "lims.result.review"),),
        with_event=True,
    ),
    # SH-6.2.4, TJ-9.4 (pharmatrace.qms.capa): QA approves a CAPA plan and signs each effectiveness verdict on
    # its qms_capa_decisions row, which names the SM3 of the CAPA content; never the originator (the service).
    SignableAction(
        "qms.capa.approve",
        "qms_capa_decision",
        N_("Approve a CAPA plan (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    SignableAction(
        "qms.capa.effectiveness",
        "qms_capa_decision",
        N_("Sign the effectiveness verdict of a CAPA (QA)"),
        (Step("verified", "qms.deviation.approve"),),
        with_event=True,
    ),
    # TJ-7.7, TJ-B.2.4.3 (pharmatrace.lims.oos): QA closes an OOS investigation on its lims_oos_closures row, which
    # names the SM3 of the investigation's content; never the analyst of the result under investigation.
    SignableAction(
        "lims.oos.close",
        "lims_oos_closure",
        N_("Close an OOS investigation (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # SH-6.2.4 (pharmatrace.qms.complaints): QA closes a complaint on its qms_complaint_decisions row, which names the
    # SM3 of the complaint's content (investigation, conclusion, response); never its investigator (the service).
    SignableAction(
        "qms.complaint.close",
        "qms_complaint_decision",
        N_("Close a complaint (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # SH-6.2.4, TJ-9.1 (pharmatrace.qms.recalls): the qualified person opens a recall on the impact the genealogy
    # gave and closes it on the notifications and returns, each on a qms_recall_decisions row naming their SM3.
    SignableAction(
        "qms.recall.open",
        "qms_recall_decision",
        N_("Open a recall (Qualified Person)"),
        (Step("approved", "qms.release.decide"),),
        with_event=True,
    ),
    SignableAction(
        "qms.recall.close",
        "qms_recall_decision",
        N_("Close a recall (Qualified Person)"),
        (Step("approved", "qms.release.decide"),),
        with_event=True,
    ),
    # TJ-11 (pharmatrace.qms.audits): QA closes an audit or self-inspection on its qms_audit_decisions row, which
    # names the SM3 of the report (checklist, findings and their CAPA); never its lead auditor (the service).
    SignableAction(
        "qms.audit.close",
        "qms_audit_decision",
        N_("Close an audit (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # SH-6.2.4 (pharmatrace.qms.risks): QA approves an FMEA on its qms_risk_decisions row naming the SM3 of the
    # assessment (every failure mode with its S, O, D and RPN); never its author (the service).
    SignableAction(
        "qms.risk.approve",
        "qms_risk_decision",
        N_("Approve a risk assessment (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # TJ-9.4 (pharmatrace.qms.pqr): the qualified person approves a product quality review on its qms_pqr_decisions
    # row naming the SM3 of the compiled review and its conclusions.
    SignableAction(
        "qms.pqr.approve",
        "qms_pqr_decision",
        N_("Approve a product quality review (Qualified Person)"),
        (Step("approved", "qms.release.decide"),),
        with_event=True,
    ),
    # Issue 9 item 10 (pharmatrace.qms.validation): QA approves a validation protocol before it is executed, and
    # its report after, each on a qms_validation_decisions row naming the SM3 of what was approved.
    SignableAction(
        "qms.validation.protocol.approve",
        "qms_validation_decision",
        N_("Approve a validation protocol (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    SignableAction(
        "qms.validation.report.approve",
        "qms_validation_decision",
        N_("Approve a validation report (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # Issue 9 item 10 (pharmatrace.qms.dossiers): QA approves a registration record or a contract agreement as a
    # controlled record on its qms_dossier_decisions row naming the SM3 of its content.
    SignableAction(
        "qms.dossier.approve",
        "qms_dossier_decision",
        N_("Approve a registration or contract record (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # Issue 9 item 6 (pharmatrace.qms.supplier_qualification): QA qualifies a supplier for a material on its
    # qms_supplier_qualification_decisions row, which puts it on the approved-supplier list in the same transaction.
    SignableAction(
        "qms.supplier.qualify",
        "qms_supplier_qualification_decision",
        N_("Qualify a supplier (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # TJ-6.4.4, SH-6.2.4 (pharmatrace.qms.extensions): QA approves the extension of a deviation's, a CAPA's or a
    # change's due date on its qms_extension_decisions row (never who requested it).
    SignableAction(
        "qms.extension.approve",
        "qms_extension_decision",
        N_("Approve a due-date extension (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
    # TJ-6.3.4, TJ-6.4.7, TJ-9.1 (pharmatrace.qms.release): the qualified person signs the release or the rejection
    # of a batch on its qms_release_decisions row, which names the SM3 of the checklist and summary it decided on.
    SignableAction(
        "qms.batch.release",
        "qms_release_decision",
        N_("Release a batch (Qualified Person)"),
        (Step("released", "qms.release.decide"),),
        with_event=True,
    ),
    SignableAction(
        "qms.batch.reject",
        "qms_release_decision",
        N_("Reject a batch (Qualified Person)"),
        (Step("rejected", "qms.release.decide"),),
        with_event=True,
    ),
    # TJ-10.1.6.3.a (pharmatrace.monitoring.destruction): QA approves the destruction of a month's historian raw
    # values past their retention, on a decision row naming the application's SM3 (before migration 0058: on the
    # destruction record); never whoever requested it (the service and a CHECK).
    SignableAction(
        "monitoring.destruction.approve",
        "monitoring_destruction_decision",
        N_("Approve the destruction of historian raw values past their retention (QA)"),
        (Step("approved", "qms.deviation.approve"),),
        with_event=True,
    ),
)
BY_CODE: dict[str, SignableAction] = {action.code: action for action in ACTIONS}

assert all(step.meaning in MEANINGS for action in ACTIONS for step in action.steps)
