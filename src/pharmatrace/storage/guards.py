"""Database-level guards, issued by migrations on SQLite and PostgreSQL alike.

* ``append_only``: UPDATE and DELETE (and on PostgreSQL TRUNCATE) are refused — the audit trail
  (SH-7.1.3.c). PostgreSQL triggers are ``ENABLE ALWAYS`` so ``session_replication_role = replica``
  does not skip them.
* ``no_delete``: GMP rows are voided, never deleted.
* segregation-of-duties triggers: a grant that would put an administration permission into a business
  role (or the reverse), or give one user both kinds of role, is refused by the database itself
  (TJ-10.1.2.2.b/c), whatever path wrote it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

PG_REFUSE_FUNCTION = """
CREATE OR REPLACE FUNCTION pharmatrace_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'pharmatrace: % on % is refused (%)', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
    USING ERRCODE = 'insufficient_privilege';
END $$;
"""


def _dialect() -> str:
    return op.get_bind().dialect.name


def _pg_trigger(name: str, table: str, timing: str, level: str, why: str) -> None:
    op.execute(
        f"CREATE TRIGGER {name} {timing} ON {table} FOR EACH {level} "
        f"EXECUTE FUNCTION pharmatrace_refuse('{why}')"
    )
    op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}")


def append_only(table: str) -> None:
    why = "append-only table"
    if _dialect() == "postgresql":
        op.execute(PG_REFUSE_FUNCTION)
        _pg_trigger(f"{table}_no_update", table, "BEFORE UPDATE", "ROW", why)
        _pg_trigger(f"{table}_no_delete", table, "BEFORE DELETE", "ROW", why)
        _pg_trigger(f"{table}_no_truncate", table, "BEFORE TRUNCATE", "STATEMENT", why)
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: {verb} on {table} is refused ({why})'); END"
            )


def pg_guard_partition(connection: sa.Connection, partition: str) -> None:
    """Guards of a new partition of a partitioned append-only table (PostgreSQL). Its row triggers are the
    parent's, cloned with their ``ENABLE ALWAYS``; a statement-level TRUNCATE trigger is not cloned, and a
    TRUNCATE of the partition itself does not fire the parent's: each partition gets its own. The application
    role gets nothing on it: it reads and appends through the parent, whose grants apply."""
    why = "append-only table"
    connection.exec_driver_sql(
        f"CREATE TRIGGER {partition}_no_truncate BEFORE TRUNCATE ON {partition} FOR EACH STATEMENT "
        f"EXECUTE FUNCTION pharmatrace_refuse('{why}')"
    )
    connection.exec_driver_sql(f"ALTER TABLE {partition} ENABLE ALWAYS TRIGGER {partition}_no_truncate")
    if connection.exec_driver_sql(f"SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}'").first():  # noqa: S608
        connection.exec_driver_sql(f"REVOKE ALL ON {partition} FROM {APP_ROLE}")


def no_delete(table: str) -> None:
    why = "GMP rows are voided, never deleted"
    if _dialect() == "postgresql":
        op.execute(PG_REFUSE_FUNCTION)
        _pg_trigger(f"{table}_no_delete", table, "BEFORE DELETE", "ROW", why)
        _pg_trigger(f"{table}_no_truncate", table, "BEFORE TRUNCATE", "STATEMENT", why)
    else:
        op.execute(
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: DELETE on {table} is refused ({why})'); END"
        )


# A permission of the other kind than its role (read permissions fit both).
_ROLE_PERMISSION_CLASH = (
    "(SELECT kind FROM permissions WHERE code = NEW.permission_code) <> 'read' AND "
    "(SELECT kind FROM permissions WHERE code = NEW.permission_code) <> "
    "(SELECT kind FROM roles WHERE id = NEW.role_id)"
)
# A user who would hold roles of both kinds.
_USER_ROLE_CLASH = (
    "EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = NEW.user_id "
    "AND r.kind <> (SELECT kind FROM roles WHERE id = NEW.role_id))"
)


def segregation_of_duties() -> None:
    if _dialect() == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION pharmatrace_sod_role_permission()
            RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF {_ROLE_PERMISSION_CLASH} THEN
                RAISE EXCEPTION 'pharmatrace: segregation of duties: permission % does not fit role %',
                  NEW.permission_code, NEW.role_id USING ERRCODE = 'check_violation';
              END IF;
              RETURN NEW;
            END $$;
            """
        )
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION pharmatrace_sod_user_role() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF {_USER_ROLE_CLASH} THEN
                RAISE EXCEPTION 'pharmatrace: segregation of duties: user % cannot hold role %',
                  NEW.user_id, NEW.role_id USING ERRCODE = 'check_violation';
              END IF;
              RETURN NEW;
            END $$;
            """
        )
        for table, function in (
            ("role_permissions", "pharmatrace_sod_role_permission"),
            ("user_roles", "pharmatrace_sod_user_role"),
        ):
            op.execute(
                f"CREATE TRIGGER {table}_sod BEFORE INSERT OR UPDATE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {function}()"
            )
            op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_sod")
        # A role's kind cannot change under its grants.
        op.execute(
            "CREATE TRIGGER roles_kind_fixed BEFORE UPDATE OF kind ON roles FOR EACH ROW "
            "WHEN (OLD.kind IS DISTINCT FROM NEW.kind) "
            "EXECUTE FUNCTION pharmatrace_refuse('role kind is fixed')"
        )
        op.execute("ALTER TABLE roles ENABLE ALWAYS TRIGGER roles_kind_fixed")
        return
    for table, clash in (("role_permissions", _ROLE_PERMISSION_CLASH), ("user_roles", _USER_ROLE_CLASH)):
        for verb in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER {table}_sod_{verb.lower()} BEFORE {verb} ON {table} WHEN {clash} "
                f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: segregation of duties refused this grant'); END"
            )
    op.execute(
        "CREATE TRIGGER roles_kind_fixed BEFORE UPDATE OF kind ON roles WHEN OLD.kind <> NEW.kind "
        "BEGIN SELECT RAISE(ABORT, 'pharmatrace: role kind is fixed'); END"
    )


# --- writes only through the unit of work ----------------------------------------------------------

UOW_SETTING = "pharmatrace.uow"  # PostgreSQL: transaction-local setting made by the unit of work
UOW_FUNCTION = "pharmatrace_uow"  # SQLite: a function only PharmaTrace's own connections define

PG_UOW_FUNCTION = f"""
CREATE OR REPLACE FUNCTION pharmatrace_require_uow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('{UOW_SETTING}', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'pharmatrace: % on % outside the unit of work is refused', TG_OP, TG_TABLE_NAME
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN COALESCE(NEW, OLD);
END $$;
"""


def uow_only(
    table: str,
    sqlite_verbs: tuple[str, ...] = ("INSERT", "UPDATE", "DELETE"),
    *,
    sqlite_insert_after: bool = False,
) -> None:
    """Refuse INSERT, UPDATE and DELETE on ``table`` unless the unit of work marked the transaction (on SQLite
    only ``sqlite_verbs``). ``sqlite_insert_after``: SQLite refuses an INSERT once the row is made (the statement
    is undone): a BEFORE INSERT trigger would have it compute every generated column of the row twice, once for
    the trigger's ``NEW`` (``audit_entries``: 10 against 6 µs a row).

    Closes the gap of ORM-event audit (bulk updates, raw SQL, other clients): such writes are refused.
    A database superuser can still forge the marker; ``pharmatrace ledger verify`` then names the row.
    """
    if _dialect() == "postgresql":
        op.execute(PG_UOW_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {table}_uow_only BEFORE INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pharmatrace_require_uow()"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_uow_only")
        return
    for verb in sqlite_verbs:
        timing = "AFTER" if verb == "INSERT" and sqlite_insert_after else "BEFORE"
        op.execute(
            f"CREATE TRIGGER {table}_uow_only_{verb.lower()} {timing} {verb} ON {table} "
            f"WHEN {UOW_FUNCTION}() IS NOT 1 "
            f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: {verb} on {table} outside the unit of work is refused'); END"
        )


def rewrite_sqlite_table(table: str, old: str, new: str) -> None:
    """On SQLite, replace ``old`` by ``new`` in ``table``'s stored definition, in place: what SQLite documents for a
    change that every stored row already satisfies (https://sqlite.org/lang_altertable.html, "otheralter":
    ``writable_schema``, the schema version moved on so every connection reads the new definition). ``old`` must
    occur exactly once, or nothing changes and the migration stops. No rebuild: no row copied, no trigger or
    foreign key to the table lost."""
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).scalar_one()
    if sql.count(old) != 1:
        raise RuntimeError(f"{table}: {old!r} is not once in its definition; nothing changed")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?",
            (sql.replace(old, new), table),
        )
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def immutable_columns(table: str, columns: tuple[str, ...]) -> None:
    """Refuse any UPDATE that changes one of ``columns`` (e.g. a signing key's public half)."""
    names = ", ".join(columns)
    if _dialect() == "postgresql":
        op.execute(PG_REFUSE_FUNCTION)
        changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in columns)
        op.execute(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OF {names} ON {table} FOR EACH ROW "
            f"WHEN ({changed}) EXECUTE FUNCTION pharmatrace_refuse('immutable columns')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_immutable")
        return
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in columns)
    op.execute(
        f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OF {names} ON {table} WHEN {changed} "
        f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: UPDATE of {names} on {table} is refused (immutable columns)'); END"
    )


def frozen_when(table: str, condition: str, why: str) -> None:
    """Refuse any UPDATE of a row of ``table`` once ``condition`` (on ``OLD``) holds: a closed record stays as
    it was closed, whatever path tries to change it (e.g. ``OLD.status IN ('closed', 'cancelled')``)."""
    if _dialect() == "postgresql":
        op.execute(PG_REFUSE_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {table}_frozen BEFORE UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({condition}) EXECUTE FUNCTION pharmatrace_refuse('{why}')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_frozen")
        return
    op.execute(
        f"CREATE TRIGGER {table}_frozen BEFORE UPDATE ON {table} WHEN {condition} "
        f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: UPDATE on {table} is refused ({why})'); END"
    )


def refused_when(table: str, name: str, condition: str, why: str) -> None:
    """Refuse any INSERT or UPDATE of ``table`` whose new row satisfies ``condition`` (on ``NEW``): a rule added
    to a table that already exists, kept by the database as a CHECK would be (e.g. the person who responded to an
    audit finding does not verify it). ``name`` names the trigger (``{table}_{name}``)."""
    if _dialect() == "postgresql":
        op.execute(PG_REFUSE_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {table}_{name} BEFORE INSERT OR UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({condition}) EXECUTE FUNCTION pharmatrace_refuse('{why}')"
        )
        op.execute(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_{name}")
        return
    for verb in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER {table}_{name}_{verb.lower()} BEFORE {verb} ON {table} WHEN {condition} "
            f"BEGIN SELECT RAISE(ABORT, 'pharmatrace: {verb} on {table} is refused ({why})'); END"
        )


# --- the PostgreSQL application role ----------------------------------------------------------------

APP_ROLE = "pharmatrace_app"
# Tables the application may only read and append to (SH-7.1.3.c): no UPDATE, DELETE or TRUNCATE.
APPEND_ONLY_TABLES = (
    "audit_entries",
    "ledger_nodes",
    "ledger_checkpoints",
    "ledger_keys",
    "signatures",
    "clock_checks",
    "equipment_log_entries",
    "cultivation_inputs",
    "stock_movements",
    "temperature_readings",
    "intermediate_movements",
    "document_decisions",
    "training_assessment_attempts",
    "training_records",
    "master_recipe_decisions",
    "control_recipes",
    "batch_signoffs",
    "batch_reviews",
    "step_corrections",
    "weighing_records",
    "material_identifications",
    "material_charges",
    "packaging_material_checks",
    "packaging_specimens",
    "packaging_print_checks",
    "packaging_visual_inspections",
    "packaging_reconciliations",
    "packaging_balances",
    "lims_reagent_log",
    "lims_solution_components",
    "lims_standardizations",
    "lims_spec_decisions",
    "lims_sampling_records",
    "lims_sampled_containers",
    "lims_samples",
    "lims_sample_events",
    "lims_results",
    "lims_result_raws",
    "lims_result_reagents",
    "lims_result_files",
    "lims_result_reviews",
    "lims_stability_approvals",
    "lims_stability_placements",
    "lims_stability_pulls",
    "lims_certificate_signoffs",
    "lims_lot_decisions",
    "lims_oos_steps",
    "lims_oos_closures",
    "lims_oot_evaluations",
    "qms_capa_decisions",
    "deviation_impacts",
    "deviation_events",
    "deviation_closures",
    "qms_change_decisions",
    "qms_release_decisions",
    "qms_complaint_decisions",
    "qms_recall_returns",
    "qms_recall_decisions",
    "qms_audit_decisions",
    "qms_risk_decisions",
    "qms_pqr_decisions",
    "qms_validation_decisions",
    "qms_validation_results",
    "qms_dossier_decisions",
    "qms_supplier_qualification_decisions",
    "qms_extension_decisions",
    "monitoring_ingests",
    "monitoring_values",
    "monitoring_destroyed_ingests",
    "monitoring_destruction_decisions",
    "monitoring_alarm_transitions",
    "trace_events",
    "trace_event_items",
)
# Association rows whose revocation is a delete (audited by the unit of work).
DELETABLE_TABLES = ("role_permissions", "user_roles")


def grant_app_role() -> None:
    """PostgreSQL: the role the application runs as owns nothing, so it cannot drop or disable triggers,
    and may only INSERT and SELECT on the trail and the ledger. Re-run by every migration that adds tables.

    Operators log in with a role that is a member of it: ``CREATE ROLE pharmatrace LOGIN IN ROLE
    pharmatrace_app``; migrations run as the owner.
    """
    if _dialect() != "postgresql":
        return
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') "  # noqa: S608 - constant
        f"THEN CREATE ROLE {APP_ROLE} NOLOGIN; END IF; END $$"
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    # A table is listed before the migration that creates it has run: revoke on those that exist.
    existing = set(
        op.get_bind().exec_driver_sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").scalars()
    )
    present = [table for table in APPEND_ONLY_TABLES if table in existing]
    op.execute(f"REVOKE UPDATE ON {', '.join([*present, 'alembic_version'])} FROM {APP_ROLE}")
    op.execute(f"REVOKE INSERT ON alembic_version FROM {APP_ROLE}")
    op.execute(f"GRANT DELETE ON {', '.join(DELETABLE_TABLES)} TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    # partitions are reached through their parent (whose grants apply), never directly
    partitions = op.get_bind().exec_driver_sql(
        "SELECT inhrelid::regclass::text FROM pg_inherits JOIN pg_partitioned_table ON partrelid = inhparent"
    )
    for (partition,) in partitions.all():
        op.execute(f"REVOKE ALL ON {partition} FROM {APP_ROLE}")
