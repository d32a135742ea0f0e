"""``pharmatrace`` — the command line. Honours the same ``PHARMATRACE_*`` variables as the web app."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from pharmatrace.adapters.scale_cli import scale_app
from pharmatrace.cli_support import database, fail
from pharmatrace.compliance.cli import compliance_app
from pharmatrace.config import get_settings
from pharmatrace.documents.cli import documents_app
from pharmatrace.exchange.cli import datasets_app
from pharmatrace.kernel.audit_trail.cli import audit_app
from pharmatrace.kernel.clock_cli import clock_app
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.kernel.esign.cli import esign_app
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.schemas import UserCreate
from pharmatrace.kernel.ledger_cli import ledger_app
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.kernel.witness_server import witness_app
from pharmatrace.mes.recipe_cli import recipes_app
from pharmatrace.monitoring import vouched as monitoring_vouched
from pharmatrace.monitoring.cli import monitoring_app
from pharmatrace.origin.cli import origin_app
from pharmatrace.storage.engine import Database
from pharmatrace.trace import vouched as trace_vouched
from pharmatrace.trace.cli import trace_app
from pharmatrace.wms.cli import wms_app

app = typer.Typer(
    help="PharmaTrace 药品生产全过程数字化追溯系统", no_args_is_help=True, pretty_exceptions_enable=False
)
db_app = typer.Typer(help="Database schema", no_args_is_help=True)
user_app = typer.Typer(help="User accounts", no_args_is_help=True)
demo_app = typer.Typer(help="The demo plant", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(demo_app, name="demo")
app.add_typer(ledger_app, name="ledger")
app.add_typer(witness_app, name="witness")
app.add_typer(esign_app, name="esign")
app.add_typer(clock_app, name="clock")
app.add_typer(audit_app, name="audit")
app.add_typer(compliance_app, name="compliance")
app.add_typer(datasets_app, name="datasets")
app.add_typer(wms_app, name="wms")
app.add_typer(origin_app, name="origin")
app.add_typer(documents_app, name="documents")
app.add_typer(recipes_app, name="recipes")
app.add_typer(scale_app, name="scale")
app.add_typer(monitoring_app, name="monitoring")
app.add_typer(trace_app, name="trace")
# `ledger verify` re-hashes the payloads audited rows vouch for by their SM3 (ADR 0019, 0020; the kernel imports no area)
trace_vouched.register()
monitoring_vouched.register()


def _cli_actor() -> Actor:
    """The operating-system account running the command, named in the audit trail."""
    return Actor.system(f"cli:{getpass.getuser()}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    demo_scales: Annotated[
        bool, typer.Option("--demo-scales", help="also simulate the demo plant's balances over MT-SICS")
    ] = False,
    collect: Annotated[
        bool,
        typer.Option(
            "--collect", help="also collect every active data source into the historian (PHARMATRACE_COLLECT)"
        ),
    ] = False,
    demo_simulators: Annotated[
        bool,
        typer.Option(
            "--demo-simulators",
            help="also simulate the demo plant's freeze-dryer (OPC UA), water point (Modbus) and clean-room sensors (MQTT)",
        ),
    ] = False,
) -> None:
    """Serve the web app and the API."""
    import contextlib

    import uvicorn

    from pharmatrace.web.app import create_app

    db = database()
    settings = get_settings()
    app_ = create_app(db, clock_monitor=settings.clock_monitor, historian_reader=True,
                      collectors=collect or settings.collect)  # fmt: skip
    with contextlib.ExitStack() as stack:
        if demo_simulators:  # before the collectors start, so they find their peers at once
            from pharmatrace.monitoring.simulation import demo_peers_in_thread

            for line in stack.enter_context(demo_peers_in_thread()):
                typer.echo(f"simulated {line}")
        if collect or settings.collect:
            typer.echo("collecting every active data source (status: /monitoring)")
        if demo_scales:
            from pharmatrace.adapters.simulators.demo import demo_balances

            for balance in stack.enter_context(demo_balances(db)):
                typer.echo(f"simulated balance {balance} (MT-SICS; change the load with XLOAD <value>)")
        typer.echo(f"PharmaTrace is serving on http://{host}:{port}  (API: http://{host}:{port}/api/v1/docs)")
        uvicorn.run(app_, host=host, port=port, log_level="info")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema (SQLite or PostgreSQL)."""
    db = database()
    from pharmatrace.storage.migrate import current_revision

    typer.echo(f"database at revision {current_revision(db.engine)} ({db.dialect})")


@user_app.command("create")
def user_create(
    login: str,
    full_name: Annotated[str, typer.Option("--full-name", help="full name as printed on records")],
    role: Annotated[list[str], typer.Option("--role", help="role code; repeat for several")],
    employee_no: Annotated[str | None, typer.Option("--employee-no")] = None,
    department: Annotated[str, typer.Option("--department")] = "-",
    position: Annotated[str, typer.Option("--position")] = "-",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Create a user; the password must be changed at first log-in."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("initial password: ")
    try:
        data = UserCreate(
            login=login,
            full_name=full_name,
            employee_no=employee_no or login,
            department=department,
            position=position,
            password=password,
            roles=role,
        )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    try:
        with UnitOfWork(database(), _cli_actor()) as uow:
            user = identity.create_user(uow, data)
            uow.commit()
    except PharmaTraceError as error:
        fail(error)
    typer.echo(f"created user {user.login} (id {user.id})")


def _user_id(db: Database, login: str) -> int:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        if user is None:
            typer.echo(f"error: no user {login!r}", err=True)
            raise typer.Exit(code=2)
        return user.id


@user_app.command("deactivate")
def user_deactivate(
    login: str, reason: Annotated[str, typer.Option("--reason", help="why (audited)")]
) -> None:
    """Deactivate a user (users are never deleted)."""
    db = database()
    try:
        with UnitOfWork(db, _cli_actor(), reason=reason) as uow:
            identity.deactivate_user(uow, _user_id(db, login))
            uow.commit()
    except PharmaTraceError as error:
        fail(error)
    typer.echo(f"deactivated {login}")


@user_app.command("unlock")
def user_unlock(login: str, reason: Annotated[str, typer.Option("--reason", help="why (audited)")]) -> None:
    """Unlock an account locked after failed log-ins."""
    db = database()
    try:
        with UnitOfWork(db, _cli_actor(), reason=reason) as uow:
            identity.unlock_user(uow, _user_id(db, login))
            uow.commit()
    except PharmaTraceError as error:
        fail(error)
    typer.echo(f"unlocked {login}")


@user_app.command("list")
def user_list() -> None:
    """List users with their roles and status."""
    with database().sessions() as session:
        for user in identity.list_users(session):
            status = "active" if user.active else "deactivated"
            if user.locked:
                status += ",locked"
            roles = ",".join(sorted(g.role.code for g in user.grants))
            typer.echo(f"{user.login:<14} {user.full_name:<8} {status:<18} {roles}")


@demo_app.command("seed")
def demo_seed() -> None:
    """Build the demo plant (idempotent)."""
    from pharmatrace.bootstrap import open_database
    from pharmatrace.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed

    added = seed(open_database())  # a new plant is migrated by the seed, dated with its history (ADR 0015)
    typer.echo("demo plant: " + ", ".join(f"{n} {what} added" for what, n in added.items()))
    typer.echo(f"demo log-ins (password {DEMO_PASSWORD}):")
    for user in DEMO_USERS:
        typer.echo(f"  {user.login:<12} {user.full_name}  {user.role}")
