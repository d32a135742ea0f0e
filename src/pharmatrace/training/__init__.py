"""Training (SH-6.3.4, TJ-9.3) and the qualifications that gate permissions (TJ-10.1.2.2.d)."""

# Subscribes to VersionApproved and AccessRequested and registers the permission gate at import; importing
# the package (storage.models does, so the app, CLI and seed all do) wires training in.
from pharmatrace.training import gates as _gates  # noqa: F401
from pharmatrace.training import service as _service  # noqa: F401
