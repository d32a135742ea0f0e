"""Shared fixtures: a seeded demo plant on SQLite and on the real PostgreSQL server.

Every storage-touching test gets the ``backend`` parameter and so runs on both databases. The plant is
built once per backend (migrations + ``demo seed``) and copied for each test: a file copy on SQLite, a
``CREATE DATABASE … TEMPLATE`` on PostgreSQL. When PostgreSQL does not answer, its half of the suite is
skipped and the run says so loudly at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

# Tests never touch the developer's var/ (make exports PHARMATRACE_VAR): one throwaway state dir.
os.environ["PHARMATRACE_VAR"] = tempfile.mkdtemp(prefix="pharmatrace-test-var-")
# Fast password hashing in tests (argon2id still, at the RFC 9106 memory floor).
os.environ.setdefault("PHARMATRACE_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("PHARMATRACE_ARGON2_TIME_COST", "1")
os.environ.setdefault("PHARMATRACE_ARGON2_PARALLELISM", "1")
os.environ.setdefault("PHARMATRACE_KEY_KDF_ITERATIONS", "1000")

import pytest
from sqlalchemy import create_engine, text

from databases import PG_ADMIN_URL, pg_admin, pg_url
from pharmatrace.demo.seed import seed
from pharmatrace.storage.engine import Database

_pg_down_reason: list[str] = []
PG_TEMPLATE_STATE: dict[str, Path] = {}


# --- markers --------------------------------------------------------------------------------------
# Clause markers (SH-…, TJ-…) are checked against docs/requirements and recorded for the compliance
# matrix by pharmatrace.compliance.pytest_plugin (loaded from pyproject's addopts).


@pytest.hookimpl(tryfirst=True)  # before the fixture's own params are applied
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Page and permission-gate tests (``pages``) render and gate what the services return, and the services
    are tested on both databases: they run on SQLite only. Long scenarios (``scenario``: a whole batch, a
    whole season) chain steps each tested on both, and the demo seed runs a whole batch on SQLite in every
    run: they run on PostgreSQL, the production database, only (ADR 0003, addendum of 2026-11-29)."""
    if "backend" not in metafunc.fixturenames:
        return
    for marker, only in (("pages", "sqlite"), ("scenario", "postgresql")):
        if metafunc.definition.get_closest_marker(marker):
            # as a parametrize mark, which takes precedence over the fixture's own params
            metafunc.definition.add_marker(pytest.mark.parametrize("backend", [only], indirect=True))
            return


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.storage)
    # The browser tests last: Playwright's sync API keeps an event loop running in the main thread until
    # the session ends, and tests that talk to a device with asyncio.run() cannot run after it.
    items[:] = sorted(items, key=lambda item: "/e2e/" in str(item.path))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_down_reason:
        terminalreporter.write_sep(
            "!", "POSTGRESQL DID NOT ANSWER — PostgreSQL half of the suite SKIPPED", red=True
        )
        terminalreporter.write_line(f"  {PG_ADMIN_URL}: {_pg_down_reason[0]}", red=True)


# --- databases ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeded plant: ``plant.sqlite3`` plus its state directory ``var/`` (site key, witness)."""
    path = tmp_path_factory.mktemp("template") / "plant.sqlite3"
    db = Database.from_url(f"sqlite:///{path}", state_dir=path.parent / "var")
    seed(db)  # migrates the new database itself, under the seed clock with the plant's history (ADR 0015)
    db.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


def copy_state(template_dir: Path, target: Path) -> Path:
    """Each copy of a database gets a copy of the state that belongs to it (keys, witness)."""
    shutil.copytree(template_dir, target)
    return target


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"pt_tpl_{os.getpid()}"
    try:
        admin = pg_admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        _pg_down_reason.append(str(error).splitlines()[0])
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    state = tmp_path_factory.mktemp("pg-template") / "var"
    db = Database.from_url(pg_url(name), state_dir=state)
    try:
        seed(db)  # migrates the new database itself, under the seed clock with the plant's history (ADR 0015)
    except BaseException:
        db.dispose()
        with admin.connect() as conn:  # a half-built template is of no use to anyone
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        raise
    db.dispose()
    compact = create_engine(pg_url(name), isolation_level="AUTOCOMMIT")
    with compact.connect() as conn:
        conn.execute(text("VACUUM FULL"))  # the catalogues the migrations churned: a smaller copy per test
    compact.dispose()
    PG_TEMPLATE_STATE[name] = state
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh copy of the seeded demo plant on ``backend``."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        copy = tmp_path / "plant.sqlite3"
        shutil.copyfile(template, copy)
        state = copy_state(template.parent / "var", tmp_path / "var")
        database = Database.from_url(f"sqlite:///{copy}", state_dir=state)
        yield database
        database.dispose()
        return
    template_name: str = request.getfixturevalue("pg_template")
    name = f"pt_t_{uuid.uuid4().hex[:12]}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    state = copy_state(PG_TEMPLATE_STATE[template_name], tmp_path / "var")
    database = Database.from_url(pg_url(name), state_dir=state)
    yield database
    database.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
