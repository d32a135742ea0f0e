"""Shared fixtures: a seeded demo plant on SQLite and on the real PostgreSQL server.

Storage-touching tests get the ``backend`` parameter: kernel, storage, exchange and compliance tests run on both
databases, the domain areas' service tests on PostgreSQL, page tests on SQLite (``pytest_generate_tests``, ADR 0003
and its addenda). The plant is built once per backend and run (migrations + ``demo seed``) and copied for each
test: a file copy on SQLite, a ``CREATE DATABASE … TEMPLATE`` on PostgreSQL. When PostgreSQL does not answer, its
half of the suite is skipped and the run says so loudly at the end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

# Tests never touch the developer's var/ (make exports PHARMATRACE_VAR): one throwaway state dir.
os.environ["PHARMATRACE_VAR"] = tempfile.mkdtemp(prefix="pharmatrace-test-var-")
# Fast password hashing in tests (argon2id still, at the RFC 9106 memory floor).
os.environ.setdefault("PHARMATRACE_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("PHARMATRACE_ARGON2_TIME_COST", "1")
os.environ.setdefault("PHARMATRACE_ARGON2_PARALLELISM", "1")
os.environ.setdefault("PHARMATRACE_KEY_KDF_ITERATIONS", "1000")

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from databases import PG_ADMIN_URL, pg_admin, pg_url
from pharmatrace.demo.seed import seed
from pharmatrace.storage.engine import Database

TESTS = Path(__file__).resolve().parent
_pg_down_reason: list[str] = []


# --- markers --------------------------------------------------------------------------------------
# Clause markers (SH-…, TJ-…) are checked against docs/requirements and recorded for the compliance
# matrix by pharmatrace.compliance.pytest_plugin (loaded from pyproject's addopts).


# The areas whose tests exercise domain services over the kernel: their tests run on PostgreSQL, the production
# database, unless marked ``both``; the demo seed, the page tests and the browser tests drive the same services on
# SQLite in every run (ADR 0003, addendum "Domain services on PostgreSQL").
DOMAIN_AREAS = frozenset(
    {"documents", "equipment", "lims", "mes", "monitoring", "origin", "qms", "trace", "training", "wms"}
)


def backends_for(metafunc: pytest.Metafunc) -> list[str] | None:
    """The databases a test runs on, when not both (ADR 0003 and its addenda)."""
    definition = metafunc.definition
    if any(mark.args and mark.args[0] == "backend" for mark in definition.iter_markers("parametrize")):
        return None  # the test names its database itself
    if definition.get_closest_marker("pages"):
        return ["sqlite"]
    if definition.get_closest_marker("scenario"):
        return ["postgresql"]
    if definition.get_closest_marker("both"):
        return None
    parts = Path(str(definition.path)).relative_to(TESTS).parts
    if len(parts) > 1 and parts[0] in DOMAIN_AREAS:
        return ["postgresql"]
    return None


@pytest.hookimpl(tryfirst=True)  # before the fixture's own params are applied
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Page and permission-gate tests (``pages``) render and gate what the services return: they run on SQLite
    only. Long scenarios (``scenario``) and the domain areas' service tests run on PostgreSQL, the production
    database, only; ``both`` keeps a domain test on both databases where the dialects differ in what it proves
    (e.g. exact decimal arithmetic). The kernel, storage, exchange and compliance tests run on both."""
    if "backend" not in metafunc.fixturenames:
        return
    only = backends_for(metafunc)
    if only is not None:  # as a parametrize mark, which takes precedence over the fixture's own params
        metafunc.definition.add_marker(pytest.mark.parametrize("backend", only, indirect=True))


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
# Each template is built once per run and shared by every xdist worker. Its build starts in a process of its own
# as soon as a worker has collected tests that need it (``pytest_collection_finish``): both templates are built at
# once, whichever test comes first, while the workers run the tests that need neither; a test that needs one waits
# for it (a file lock in the run's shared temporary directory). The controller drops the PostgreSQL template at
# the end.

PG_DOWN_EXIT = 3  # the exit status of a template build that found no PostgreSQL server
_builders: list[threading.Thread] = []  # this process's background builds, joined before it ends


def shared_dir(factory: pytest.TempPathFactory) -> Path:
    """The run's directory shared by every worker: the parent of each worker's base temp under xdist."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


class PostgresDown(Exception):
    pass


def templates_wanted(items: list[pytest.Item]) -> set[str]:
    """The templates the collected tests copy: through ``db`` on their ``backend``, or directly."""
    wanted: set[str] = set()
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("backend") if callspec is not None else None
        names = getattr(item, "fixturenames", ())
        if backend == "sqlite" or "sqlite_template" in names:
            wanted.add("sqlite")
        if backend == "postgresql" or "pg_template" in names or "pg_copies" in names:
            wanted.add("postgresql")
    return wanted


def pytest_collection_finish(session: pytest.Session) -> None:
    factory: pytest.TempPathFactory | None = getattr(session.config, "_tmp_path_factory", None)
    if session.config.option.collectonly or factory is None:
        return
    for kind in sorted(templates_wanted(session.items)):
        start_build(shared_dir(factory), kind)


def outcome(shared: Path, kind: str) -> tuple[str, str] | None:
    """What the build of ``kind`` left: ("built", the template) or ("failed", why); None before it ends."""
    for state in ("built", "failed"):
        path = shared / f"{kind}.{state}"
        if path.exists():
            return state, path.read_text()
    return None


def start_build(shared: Path, kind: str) -> None:
    """Build ``kind``'s template in the background, unless it is built, has failed or is being built."""
    lock = open(shared / f"{kind}.lock", "w")  # noqa: SIM115 (held until the build's thread ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # being built, by another worker or this one
        lock.close()
        return
    if outcome(shared, kind) is not None:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        return

    def build_and_unlock() -> None:
        try:
            build(shared, kind)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    thread = threading.Thread(target=build_and_unlock, name=f"{kind}-template", daemon=True)
    _builders.append(thread)
    thread.start()


def build(shared: Path, kind: str) -> None:
    """Build ``kind``'s template in a process of its own (this file run as a script, ``build_template``), under
    ``kind``'s lock: it records ``kind.built``; a failure is recorded as ``kind.failed`` with the end of its log."""
    directory = shared / kind
    shutil.rmtree(directory, ignore_errors=True)  # what an interrupted attempt left
    directory.mkdir()
    log = shared / f"{kind}.log"
    with open(log, "wb") as out:
        status = subprocess.call(
            [sys.executable, __file__, kind, str(directory)], stdout=out, stderr=subprocess.STDOUT
        )
    if outcome(shared, kind) is None:
        lines = log.read_text(errors="replace").strip().splitlines() or [f"exit status {status}"]
        why = f"postgres-down:{lines[-1]}" if status == PG_DOWN_EXIT else "\n".join(lines[-40:])
        (shared / f"{kind}.failed").write_text(why)


def template(shared: Path, kind: str) -> str:
    """``kind``'s template: waits for its build, started at collection or here; raises what made it fail."""
    start_build(shared, kind)
    with open(shared / f"{kind}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            ended = outcome(shared, kind)
            if ended is None:  # its builder was stopped before it could tell
                build(shared, kind)
                ended = outcome(shared, kind)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    assert ended is not None
    state, what = ended
    if state == "built":
        return what
    if what.startswith("postgres-down:"):
        raise PostgresDown(what.removeprefix("postgres-down:"))
    raise RuntimeError(f"the {kind} demo plant template could not be built ({shared / kind}.log):\n{what}")


def build_sqlite_template(directory: Path) -> str:
    """The seeded plant: ``plant.sqlite3`` plus its state directory ``var/`` (site key, witness)."""
    path = directory / "plant.sqlite3"
    db = Database.from_url(f"sqlite:///{path}", state_dir=directory / "var")
    seed(db)  # migrates the new database itself, under the seed clock with the plant's history (ADR 0015)
    db.dispose()  # the last connection closing checkpoints the WAL into the file
    return str(path)


def build_pg_template(directory: Path) -> str:
    name = f"pt_tpl_{uuid.uuid4().hex[:12]}"
    admin = pg_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        admin.dispose()
        raise PostgresDown(str(error).splitlines()[0]) from error
    db = Database.from_url(pg_url(name), state_dir=directory / "var")
    try:
        seed(db)  # migrates the new database itself, under the seed clock with the plant's history (ADR 0015)
    except BaseException:
        db.dispose()
        with admin.connect() as conn:  # a half-built template is of no use to anyone
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        raise
    finally:
        admin.dispose()
    db.dispose()
    compact_template(name)
    return name


def compact_template(name: str) -> None:
    """Rewrite what the build churned, for a smaller copy per test (37 MB → 29 MB): the catalogues the migrations
    rewrote over and over and the tables the seed updated or deleted in (the ledger head, the trace codes). The
    other tables hold only what was inserted and would be rewritten as they are: ``VACUUM FULL`` of the whole
    database gave the same size, in 1.3–5.8 s instead of 0.3–0.6 s."""
    compact = create_engine(pg_url(name), isolation_level="AUTOCOMMIT")
    with compact.connect() as conn:
        # the seed's sessions have closed: their statistics reach the cumulative statistics as they end
        others = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        for _ in range(50):
            if not conn.scalar(others):
                break
            time.sleep(0.1)
        churned = conn.scalars(
            text(
                "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE c.relkind = 'r' AND NOT c.relisshared AND n.nspname = 'pg_catalog'"
                " UNION ALL SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables"
                " WHERE n_tup_upd + n_tup_del > 0"
            )
        ).all()
        conn.execute(text("VACUUM FULL " + ", ".join(churned)))
    compact.dispose()


def pg_template_name(shared: Path) -> str:
    try:
        return template(shared, "postgresql")
    except PostgresDown as error:
        if not _pg_down_reason:
            _pg_down_reason.append(str(error))
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_URL}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(template(shared_dir(tmp_path_factory), "sqlite"))


def copy_state(template_dir: Path, target: Path) -> Path:
    """Each copy of a database gets a copy of the state that belongs to it (keys, witness)."""
    shutil.copytree(template_dir, target)
    return target


@pytest.fixture(scope="session")
def pg_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    return pg_template_name(shared_dir(tmp_path_factory))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Engine]:
    """The maintenance connection that creates and drops each test's database."""
    admin = pg_admin()
    yield admin
    admin.dispose()


class PgCopies:
    """Each test's copy of the PostgreSQL template, made before the test asks for it and dropped after it, off the
    test's path: one background thread per worker creates the next copy, others drop the used ones.
    ``CREATE DATABASE`` copies 29 MB (about 0.1 s); ``DROP DATABASE`` waits for a checkpoint (0.5–1.5 s when
    the other worker's copies are being written out). In one thread each copy waited for the last drop, and a
    PostgreSQL test for both. Drops run side by side, so that one checkpoint serves several of them; when more
    than ``MAX_PENDING_DROPS`` are still under way, ``give_back`` waits, so the copies left on disk stay few."""

    MAX_PENDING_DROPS = 4

    def __init__(self, admin: Engine, template: str) -> None:
        self._admin, self._template = admin, template
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-copies")
        self._drops = ThreadPoolExecutor(max_workers=self.MAX_PENDING_DROPS, thread_name_prefix="pg-drops")
        self._next: Future[str] | None = None
        self._pending: deque[Future[None]] = deque()

    def _create(self) -> str:
        name = f"pt_t_{uuid.uuid4().hex[:12]}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"'))
        return name

    def _drop(self, name: str) -> None:
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def take(self) -> str:
        name = self._next.result() if self._next is not None else self._create()
        self._next = self._thread.submit(self._create)
        return name

    def give_back(self, name: str) -> None:
        self._pending.append(self._drops.submit(self._drop, name))
        while self._pending and self._pending[0].done():
            self._pending.popleft()
        if len(self._pending) > self.MAX_PENDING_DROPS:
            self._pending.popleft().exception()  # waits; a failed drop leaves a copy behind, as before

    def close(self) -> None:
        if self._next is not None:
            with contextlib.suppress(Exception):
                self._drops.submit(self._drop, self._next.result())
        self._thread.shutdown(wait=True)
        self._drops.shutdown(wait=True)


@pytest.fixture(scope="session")
def pg_copies(pg_template: str, pg_server: Engine) -> Iterator[PgCopies]:
    copies = PgCopies(pg_server, pg_template)
    yield copies
    copies.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or the only process) drops the shared PostgreSQL template once every worker is done."""
    for thread in _builders:  # a build this process started, which another worker may be waiting for
        thread.join()
    if hasattr(session.config, "workerinput"):
        return
    factory: pytest.TempPathFactory | None = getattr(session.config, "_tmp_path_factory", None)
    built = factory.getbasetemp() / "postgresql.built" if factory is not None else None
    if built is None or not built.exists():
        return
    admin = pg_admin()
    with contextlib.suppress(Exception), admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{built.read_text()}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    """The web app on the test's plant through Starlette's test client (the plant's language, Chinese, until a
    test logs in with another: ``helpers.log_in``)."""
    from pharmatrace.web.app import create_app

    with TestClient(create_app(db)) as test_client:
        yield test_client


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
    copies: PgCopies = request.getfixturevalue("pg_copies")
    name = copies.take()
    shared = shared_dir(request.getfixturevalue("tmp_path_factory"))
    state = copy_state(shared / "postgresql" / "var", tmp_path / "var")
    database = Database.from_url(pg_url(name), state_dir=state)
    yield database
    database.dispose()
    copies.give_back(name)


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The command line against the test's database and state directory."""
    from pharmatrace.config import get_settings

    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(db.state_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def build_template(kind: str, directory: Path) -> int:
    """``python tests/conftest.py KIND DIRECTORY``: the background build of a template (``build``)."""
    import warnings

    # as strict as a build in a test's set-up was: pyproject's filterwarnings
    warnings.filterwarnings("error", category=DeprecationWarning, module="pharmatrace.*")
    try:
        made = build_sqlite_template(directory) if kind == "sqlite" else build_pg_template(directory)
    except PostgresDown as error:
        print(error)  # the reason, on the log's last line
        return PG_DOWN_EXIT
    (directory.parent / f"{kind}.built").write_text(made)
    return 0


if __name__ == "__main__":
    sys.exit(build_template(sys.argv[1], Path(sys.argv[2])))
