"""Imports every area's models so that ``metadata`` is complete (Alembic, tests)."""

from pharmatrace.documents import distribution_models as _distribution  # noqa: F401
from pharmatrace.documents import models as _documents  # noqa: F401
from pharmatrace.equipment import models as _equipment  # noqa: F401
from pharmatrace.kernel import audit as _audit  # noqa: F401
from pharmatrace.kernel import clock_models as _clock  # noqa: F401
from pharmatrace.kernel import ledger as _ledger  # noqa: F401
from pharmatrace.kernel.esign import models as _esign  # noqa: F401
from pharmatrace.kernel.identity import models as _identity  # noqa: F401
from pharmatrace.lims import certificate_models as _lims_certificates  # noqa: F401
from pharmatrace.lims import oos_models as _lims_oos  # noqa: F401
from pharmatrace.lims import reagent_models as _lims_reagents  # noqa: F401
from pharmatrace.lims import result_models as _lims_results  # noqa: F401
from pharmatrace.lims import sample_models as _lims_samples  # noqa: F401
from pharmatrace.lims import specs_models as _lims_specs  # noqa: F401
from pharmatrace.lims import stability_models as _lims_stability  # noqa: F401
from pharmatrace.mes import dispensing_models as _dispensing  # noqa: F401
from pharmatrace.mes import execution_models as _execution  # noqa: F401
from pharmatrace.mes import packaging_models as _packaging  # noqa: F401
from pharmatrace.mes import recipe_models as _recipes  # noqa: F401
from pharmatrace.mes import review_models as _review  # noqa: F401
from pharmatrace.monitoring import alarm_models as _monitoring_alarms  # noqa: F401
from pharmatrace.monitoring import assignment_models as _monitoring_assignments  # noqa: F401
from pharmatrace.monitoring import destruction_models as _monitoring_destructions  # noqa: F401
from pharmatrace.monitoring import models as _monitoring  # noqa: F401
from pharmatrace.monitoring import rollup_models as _monitoring_rollups  # noqa: F401
from pharmatrace.origin import models as _origin  # noqa: F401
from pharmatrace.qms import audit_models as _qms_audits  # noqa: F401
from pharmatrace.qms import capa_models as _qms_capa  # noqa: F401
from pharmatrace.qms import change_models as _qms_change  # noqa: F401
from pharmatrace.qms import complaint_models as _qms_complaints  # noqa: F401
from pharmatrace.qms import deviation_models as _qms_deviations  # noqa: F401
from pharmatrace.qms import dossier_models as _qms_dossiers  # noqa: F401
from pharmatrace.qms import extension_models as _qms_extensions  # noqa: F401
from pharmatrace.qms import pqr_models as _qms_pqr  # noqa: F401
from pharmatrace.qms import recall_models as _qms_recalls  # noqa: F401
from pharmatrace.qms import release_models as _qms_release  # noqa: F401
from pharmatrace.qms import risk_models as _qms_risks  # noqa: F401
from pharmatrace.qms import supplier_qualification_models as _qms_supplier_qualification  # noqa: F401
from pharmatrace.qms import validation_models as _qms_validation  # noqa: F401
from pharmatrace.storage.base import Base
from pharmatrace.trace import models as _trace  # noqa: F401
from pharmatrace.trace import shipment_models as _trace_shipments  # noqa: F401
from pharmatrace.training import course_models as _courses  # noqa: F401
from pharmatrace.training import models as _training  # noqa: F401
from pharmatrace.wms import models as _wms  # noqa: F401
from pharmatrace.wms import stock_models as _stock  # noqa: F401

metadata = Base.metadata
