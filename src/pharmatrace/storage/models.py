"""Imports every area's models so that ``metadata`` is complete (Alembic, tests)."""

from pharmatrace.equipment import models as _equipment  # noqa: F401
from pharmatrace.kernel import audit as _audit  # noqa: F401
from pharmatrace.kernel import clock_models as _clock  # noqa: F401
from pharmatrace.kernel import ledger as _ledger  # noqa: F401
from pharmatrace.kernel.esign import models as _esign  # noqa: F401
from pharmatrace.kernel.identity import models as _identity  # noqa: F401
from pharmatrace.origin import models as _origin  # noqa: F401
from pharmatrace.storage.base import Base
from pharmatrace.wms import models as _wms  # noqa: F401
from pharmatrace.wms import stock_models as _stock  # noqa: F401

metadata = Base.metadata
