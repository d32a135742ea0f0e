"""Every table the database makes append-only is also closed to the application role's UPDATE (SH-7.1.3.c):
the trigger and the grant are two locks on the same door, and a table with only one of them is a defect."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pharmatrace.storage import guards
from pharmatrace.storage.engine import Database


@pytest.mark.clause("SH-7.1.3.c", "TJ-10.1.1.2.a")
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # roles and grants are PostgreSQL's
def test_every_append_only_table_is_also_refused_to_the_application_role(db: Database) -> None:
    with db.engine.connect() as conn:
        refusing = set(conn.scalars(text(
            "SELECT event_object_table FROM information_schema.triggers "
            "WHERE trigger_name = event_object_table || '_no_update'"
        )))  # fmt: skip
        updatable = set(conn.scalars(text(
            "SELECT table_name FROM information_schema.role_table_grants "
            "WHERE grantee = :role AND privilege_type = 'UPDATE'"
        ), {"role": guards.APP_ROLE}))  # fmt: skip
    assert refusing, "no append-only trigger found: the query no longer matches the guards"
    assert refusing - set(guards.APPEND_ONLY_TABLES) == set()
    assert refusing & updatable == set()
