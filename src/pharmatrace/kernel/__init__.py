"""The compliance kernel: identity and RBAC, unit of work, audit trail, clock."""
