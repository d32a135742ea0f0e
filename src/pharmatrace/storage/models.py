"""Imports every area's models so that ``metadata`` is complete (Alembic, tests)."""

from pharmatrace.kernel import audit as _audit  # noqa: F401
from pharmatrace.kernel.identity import models as _identity  # noqa: F401
from pharmatrace.storage.base import Base
from pharmatrace.wms import models as _wms  # noqa: F401

metadata = Base.metadata
