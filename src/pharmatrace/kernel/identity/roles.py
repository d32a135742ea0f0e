"""The standard roles shipped with PharmaTrace (NMPAB/T 1001 system roles mapped to a GMP plant).

Plants edit them in the permission matrix; these are the starting point the demo seed installs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

READ_ALL = (
    "wms.material.view",
    "origin.view",
    "equipment.view",
    "mes.batch.view",
    "lims.view",
    "qms.view",
    "documents.view",
    "training.view",
    "trace.view",
    "monitoring.view",
)


@dataclass(frozen=True, slots=True)
class StandardRole:
    code: str
    name_zh: str
    name_en: str
    kind: Literal["admin", "business"]
    permissions: tuple[str, ...]
    description: str = ""


STANDARD_ROLES: tuple[StandardRole, ...] = (
    StandardRole(
        "system_admin",
        "系统管理员",
        "System administrator",
        "admin",
        (
            "admin.users.manage",
            "admin.roles.manage",
            "admin.settings.manage",
            "admin.users.view",
            "admin.access_review.view",
            "admin.clock.view",
            "admin.compliance.view",
            "audit.trail.view",
        ),
        "Manages accounts, roles and settings; never creates or signs business data.",
    ),
    StandardRole(
        "production_operator",
        "生产操作员",
        "Production operator",
        "business",
        (
            "training.take",
            "mes.batch.view",
            "mes.batch.execute",
            "training.view",
            "wms.material.view",
            "equipment.view",
            "equipment.logbook.record",
            "documents.view",
            "qms.deviation.raise",
            "monitoring.view",
            "trace.view",
            "trace.codes.manage",  # commissioning and aggregation at the packaging line (SH-6.2.5)
        ),
    ),
    StandardRole(
        "production_supervisor",
        "生产主管",
        "Production supervisor",
        "business",
        (
            "training.take",
            *READ_ALL,
            "mes.batch.supervise",
            "mes.recipe.author",
            "documents.author",
            "training.assess",
            "qms.deviation.raise",
            "qms.change.propose",
            "equipment.logbook.record",
            "monitoring.alarm.acknowledge",
        ),
    ),
    StandardRole(
        "qa_reviewer",
        "QA审核员",
        "QA reviewer",
        "business",
        (
            "training.take",
            *READ_ALL,
            "audit.trail.view",
            "exchange.export",
            "mes.batch.review",
            "mes.recipe.approve",
            "documents.review",
            "qms.deviation.raise",
            "qms.deviation.approve",
            "qms.change.manage",
            "qms.supplier.manage",
            "qms.complaint.manage",
            "qms.recall.manage",
            "qms.audit.manage",
            "qms.risk.manage",
            "qms.pqr.manage",
            "qms.validation.manage",
            "qms.dossier.manage",
            "admin.access_review.view",
            "admin.clock.view",
            "admin.compliance.view",
            "wms.material.approve",
            "wms.anomaly.close",
            "origin.manage",
            "origin.feedback",
        ),
    ),
    StandardRole(
        "qa_release",
        "质量受权人",
        "Qualified person (QA release)",
        "business",
        (
            "training.take",
            *READ_ALL,
            "audit.trail.view",
            "exchange.export",
            "qms.release.decide",
            "qms.deviation.raise",  # and raises them, and completes the CAPA actions she owns
            "qms.deviation.approve",  # the qualified person closes deviations by signature (TJ-6.4.4)
            "qms.change.propose",
            "qms.change.system_owner",
            "qms.complaint.manage",
            "qms.recall.manage",
            "qms.audit.manage",
            "qms.risk.manage",
            "qms.pqr.manage",
            "qms.validation.manage",
            "qms.dossier.manage",
            "documents.control",
            "mes.batch.review",
            "lims.spec.approve",
            "wms.material.approve",
            "wms.anomaly.close",
            "admin.compliance.view",
            "origin.feedback",
        ),
    ),
    StandardRole(
        "qc_analyst",
        "QC检验员",
        "QC analyst",
        "business",
        (
            "training.take",
            "lims.view",
            "lims.sample.manage",
            "lims.result.enter",
            "lims.reagent.manage",
            "training.view",
            "wms.material.view",
            "documents.view",
            "equipment.view",
            "qms.deviation.raise",
            "origin.view",
            "origin.feedback",
        ),
    ),
    StandardRole(
        "qc_reviewer",
        "QC复核员",
        "QC reviewer",
        "business",
        (
            "training.take",
            "lims.view",
            "lims.result.review",
            "lims.spec.author",
            "qms.view",
            "training.view",
            "wms.material.view",
            "documents.view",
            "equipment.view",
            "qms.deviation.raise",
            "audit.trail.view",
            # the QC laboratory's own environment (RM-QC-PC): told of its alarms, acknowledges them (TJ-6.5)
            "monitoring.view",
            "monitoring.alarm.acknowledge",
        ),
    ),
    StandardRole(
        "warehouse_keeper",
        "仓库管理员",
        "Warehouse keeper",
        "business",
        (
            "training.take",
            "wms.material.view",
            "wms.material.manage",
            "wms.lot.receive",
            "wms.stock.move",
            "wms.location.manage",
            "training.view",
            "origin.view",
            "origin.manage",
            "trace.codes.manage",
            "trace.view",
            "documents.view",
            "monitoring.view",
            "qms.deviation.raise",
        ),
    ),
    StandardRole(
        "equipment_engineer",
        "设备工程师",
        "Equipment engineer",
        "business",
        (
            "training.take",
            "equipment.view",
            "equipment.manage",
            "equipment.logbook.record",
            "monitoring.view",
            "monitoring.alarm.acknowledge",
            "training.view",
            "documents.view",
            "qms.deviation.raise",
            "qms.view",  # reads the validation of the equipment they qualify, and the deviations they raise
            "qms.validation.manage",  # drafts qualification protocols and records their execution
        ),
    ),
    StandardRole(
        "document_controller",
        "文件管理员",
        "Document controller",
        "business",
        (
            "training.take",
            "documents.view",
            "documents.author",
            "documents.control",
            "documents.print",
            "training.view",
        ),
    ),
    StandardRole(
        "training_coordinator",
        "培训管理员",
        "Training coordinator",
        "business",
        ("training.take", "documents.view", "training.view", "training.manage", "training.assess"),
    ),
    StandardRole(
        "inspector",
        "检查员（只读）",
        "Inspector (read only)",
        "business",
        (
            *READ_ALL,
            "audit.trail.view",
            "exchange.export",
            "admin.access_review.view",
            "admin.users.view",
            "admin.clock.view",
            "admin.compliance.view",
        ),
        "Auditors and inspectors: sees everything, changes nothing.",
    ),
)
