"""Wiring: open the configured database, migrate it, mirror the permission catalogue."""

from __future__ import annotations

from pharmatrace.config import Settings, get_settings
from pharmatrace.kernel.identity.service import sync_permission_catalogue
from pharmatrace.storage.engine import Database
from pharmatrace.storage.migrate import upgrade


def open_database(settings: Settings | None = None) -> Database:
    settings = settings or get_settings()
    settings.ensure_var()
    return Database.from_url(settings.db_url, state_dir=settings.var_dir, witness_url=settings.witness_url)


def prepare(db: Database) -> None:
    """Bring the schema to the newest revision, the permission table in line with the code, and install
    the standard roles that are missing (a new site can then create its first administrator)."""
    upgrade(db.engine)
    with db.sessions.begin() as session:
        new_permissions = sync_permission_catalogue(session)
    install_standard_roles(db, new_permissions)


def install_standard_roles(db: Database, new_permissions: list[str] | None = None) -> int:
    """Create the shipped roles that do not exist yet.

    Existing roles, edited by the plant, are left alone, except that a permission new in this release
    (``new_permissions``: not in the database before this upgrade) is granted to the standard roles that
    ship with it, through the unit of work: the plant sees the grant in the audit trail and can revoke it.
    A permission the plant once had and revoked is never re-granted, since it is not new.
    """
    from sqlalchemy import select

    from pharmatrace.kernel.context import Actor
    from pharmatrace.kernel.identity.models import Role
    from pharmatrace.kernel.identity.roles import STANDARD_ROLES
    from pharmatrace.kernel.identity.schemas import RoleCreate
    from pharmatrace.kernel.identity.service import create_role, set_role_permissions
    from pharmatrace.kernel.uow import UnitOfWork

    added = 0
    with UnitOfWork(db, Actor.system("install"), reason="standard roles shipped with PharmaTrace") as uow:
        existing = set(uow.session.scalars(select(Role.code)))
        for std in STANDARD_ROLES:
            if std.code not in existing:
                create_role(
                    uow,
                    RoleCreate(
                        code=std.code,
                        name_zh=std.name_zh,
                        name_en=std.name_en,
                        kind=std.kind,
                        description=std.description,
                        permissions=list(std.permissions),
                    ),
                )
                added += 1
            elif new_permissions:
                role = uow.session.scalars(select(Role).where(Role.code == std.code)).one()
                shipped = set(new_permissions) & set(std.permissions) - role.permission_codes
                if shipped:
                    set_role_permissions(uow, role.id, role.permission_codes | shipped)
        uow.commit()
    return added
