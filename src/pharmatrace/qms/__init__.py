"""Quality management (QMS): deviations, CAPA, change control (SH-6.2.4, TJ-6.4.4, TJ-10.3)."""
