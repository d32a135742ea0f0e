"""Permissions declared as data: area × action, each of one kind.

Kinds decide segregation of duties (TJ-10.1.2.2.b/c, enforced in :mod:`.access`):

* ``admin``    — system administration (users, roles, settings). Never with ``business``.
* ``business`` — creating, changing or signing GMP business data. Never with ``admin``.
* ``read``     — viewing; combines with either.

Areas whose features are not built yet already have their actions here so the role matrix can be
configured before go-live; ``AREAS`` says which areas are live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pharmatrace.kernel.errors import N_

Kind = Literal["admin", "business", "read"]
KINDS: tuple[Kind, ...] = ("admin", "business", "read")
KIND_LABELS: dict[str, str] = {"admin": N_("administration"), "business": N_("business"), "read": N_("read")}


@dataclass(frozen=True, slots=True)
class Area:
    code: str
    label: str  # gettext msgid
    live: bool
    path: str
    view_permission: str | None = None  # live areas: the read permission that opens them


# ARCHITECTURE §2: the business areas, in the order of the navigation.
AREAS: tuple[Area, ...] = (
    Area("wms", N_("Materials & warehouse"), True, "/wms/materials", "wms.material.view"),
    Area("origin", N_("Herbal-material origin"), True, "/origin", "origin.view"),
    Area("equipment", N_("Equipment & rooms"), True, "/equipment", "equipment.view"),
    Area("mes", N_("Production & batch records"), True, "/mes/batches", "mes.batch.view"),
    Area("lims", N_("Laboratory (LIMS)"), True, "/lims/samples", "lims.view"),
    Area("qms", N_("Quality (QMS)"), True, "/qms", "qms.view"),
    Area("trace", N_("Serialization & trace"), True, "/trace", "trace.view"),
    Area("monitoring", N_("Integrated monitoring"), True, "/monitoring", "monitoring.view"),
    Area("documents", N_("Documents"), True, "/documents", "documents.view"),
    Area("training", N_("Training"), True, "/training/mine", "training.view"),
    Area("video", N_("Video"), False, "/areas/video"),
    Area("exchange", N_("Data exchange"), False, "/areas/exchange"),
    Area("lifecycle", N_("Backup & archive"), False, "/areas/lifecycle"),
)
AREA_BY_CODE = {area.code: area for area in AREAS}


@dataclass(frozen=True, slots=True)
class Permission:
    code: str
    area: str
    kind: Kind
    label: str  # gettext msgid


def _p(code: str, kind: Kind, label: str) -> Permission:
    return Permission(code=code, area=code.split(".", 1)[0], kind=kind, label=label)


CATALOGUE: tuple[Permission, ...] = (
    # administration
    _p("admin.users.manage", "admin", N_("Manage user accounts")),
    _p("admin.roles.manage", "admin", N_("Manage roles and the permission matrix")),
    _p("admin.settings.manage", "admin", N_("Manage security and system settings")),
    # oversight (read)
    _p("admin.access_review.view", "read", N_("View the access review report")),
    _p("admin.users.view", "read", N_("View user accounts and roles")),
    _p("admin.clock.view", "read", N_("View the clock status and NTP checks")),
    _p("admin.compliance.view", "read", N_("View the requirements compliance matrix (validation evidence)")),
    _p("audit.trail.view", "read", N_("View the audit trail")),
    # materials & warehouse
    _p("wms.material.view", "read", N_("View materials")),
    _p("wms.material.manage", "business", N_("Create and change material master data")),
    _p("wms.material.approve", "business", N_("Approve material master data (QA signature)")),
    _p("wms.lot.receive", "business", N_("Receive material lots")),
    _p("wms.stock.move", "business", N_("Move and issue stock")),
    _p("wms.location.manage", "business", N_("Set up storage locations and their conditions")),
    _p("wms.anomaly.close", "business", N_("Assess and close storage anomalies (QA)")),
    # herbal-material origin (TJ-5.1, TJ-5.2.1.5)
    _p("origin.view", "read", N_("View planting bases, plots and the origin of herb lots")),
    _p("origin.manage", "business", N_("Record planting bases, plots, cultivation, harvests and shipments")),
    _p("origin.feedback", "business", N_("Report quality anomalies of herb lots to their planting base")),
    # equipment
    _p("equipment.view", "read", N_("View equipment and rooms")),
    _p("equipment.manage", "business", N_("Maintain equipment, scales and rooms")),
    _p("equipment.logbook.record", "business", N_("Record equipment logbook entries")),
    # production
    _p("mes.batch.view", "read", N_("View batch records")),
    _p("mes.recipe.author", "business", N_("Author master recipes")),
    _p("mes.recipe.approve", "business", N_("Approve master recipes")),
    _p("mes.batch.execute", "business", N_("Execute batch steps and weighing")),
    _p("mes.batch.supervise", "business", N_("Supervise batches and verify steps")),
    _p("mes.batch.review", "business", N_("Review batch records (QA)")),
    # laboratory
    _p("lims.view", "read", N_("View samples and results")),
    _p("lims.sample.manage", "business", N_("Sample and receive samples")),
    _p("lims.result.enter", "business", N_("Enter test results")),
    _p("lims.result.review", "business", N_("Review test results")),
    _p("lims.spec.author", "business", N_("Author specifications")),
    _p("lims.spec.approve", "business", N_("Approve specifications")),
    _p("lims.reagent.manage", "business", N_("Receive, prepare and issue reagents, standards and solutions")),
    # quality
    _p("qms.view", "read", N_("View quality records")),
    _p("qms.deviation.raise", "business", N_("Raise deviations")),
    _p("qms.deviation.approve", "business", N_("Assess and close deviations and CAPA")),
    _p("qms.change.manage", "business", N_("Manage change control")),
    _p("qms.change.propose", "business", N_("Propose changes (change control)")),
    _p("qms.change.system_owner", "business", N_("Approve changes to computerized systems (system owner)")),
    _p("qms.release.decide", "business", N_("Release or reject batches (Qualified Person)")),
    _p("qms.supplier.manage", "business", N_("Maintain suppliers and the approved-supplier list")),
    _p("qms.complaint.manage", "business", N_("Register, investigate and answer complaints")),
    _p("qms.recall.manage", "business", N_("Run recalls: notify customers and record returns")),
    _p("qms.audit.manage", "business", N_("Plan and conduct quality audits and self-inspections")),
    _p("qms.risk.manage", "business", N_("Draft quality risk assessments (FMEA)")),
    _p("qms.pqr.manage", "business", N_("Compile and review product quality reviews")),
    _p("qms.validation.manage", "business", N_("Plan and execute validation and qualification")),
    _p("qms.dossier.manage", "business", N_("Keep registration dossiers and contract agreements")),
    # documents and training
    _p("documents.view", "read", N_("Read controlled documents")),
    _p("documents.author", "business", N_("Author controlled documents")),
    _p("documents.review", "business", N_("Review controlled documents (QA)")),
    _p("documents.control", "business", N_("Approve, issue and withdraw documents")),
    _p("documents.print", "business", N_("Print controlled copies of documents")),
    _p("training.view", "read", N_("View training records and the training matrix")),
    _p("training.take", "business", N_("Take training: self-study, assessments, access requests")),
    _p("training.manage", "business", N_("Manage curricula and training records")),
    _p("training.assess", "business", N_("Assess trainees and sign practical assessments (trainer)")),
    # serialization, monitoring
    _p("trace.codes.manage", "business", N_("Manage traceability codes and shipments")),
    _p("trace.view", "read", N_("Trace products forward and backward")),
    _p("monitoring.view", "read", N_("View monitoring data")),
    _p("monitoring.alarm.acknowledge", "business", N_("Acknowledge monitoring alarms")),
    # data exchange (TJ-B.1.3): export of the Appendix B data sets, besides the data set's own view permission
    _p("exchange.export", "read", N_("Export the Appendix B data sets")),
)
BY_CODE: dict[str, Permission] = {p.code: p for p in CATALOGUE}


def kind_of(code: str) -> Kind:
    return BY_CODE[code].kind
