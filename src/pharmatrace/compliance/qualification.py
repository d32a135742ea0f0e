"""Installation-qualification evidence (SH-7.2.f, TJ-10.5.1): what is installed, proven from the files.

* the Python interpreter and platform;
* every installed distribution with its version, and each of its files re-hashed against the SHA-256 its
  wheel recorded at installation (``RECORD``): a file changed after installation shows as a mismatch;
* PharmaTrace's own files (an editable install records no hashes): SHA-256 of each and of the whole tree;
* the database engine, its version and the schema revision;
* the configuration, with credentials masked.
"""

from __future__ import annotations

import base64
import hashlib
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url

from pharmatrace.config import Settings
from pharmatrace.storage.engine import Database

PACKAGE_DIR = Path(__file__).resolve().parents[1]
SKIPPED_PARTS = ("__pycache__",)


@dataclass
class InstalledDistribution:
    name: str
    version: str
    files: int = 0  # files with a recorded hash
    verified: int = 0
    mismatched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.mismatched and not self.missing


@dataclass
class SourceFile:
    path: str
    sha256: str
    size: int


@dataclass
class Installation:
    python: str
    implementation: str
    executable: str
    platform: str
    distributions: list[InstalledDistribution]
    source_files: list[SourceFile]
    source_tree_sha256: str
    revision: str | None
    database: dict[str, str]
    configuration: dict[str, str]

    @property
    def files_verified(self) -> int:
        return sum(d.verified for d in self.distributions)

    @property
    def files_not_matching(self) -> list[str]:
        return [f"{d.name}: {p}" for d in self.distributions for p in (*d.mismatched, *d.missing)]

    def as_json(self) -> dict[str, Any]:
        return {
            "python": self.python,
            "implementation": self.implementation,
            "executable": self.executable,
            "platform": self.platform,
            "revision": self.revision,
            "database": self.database,
            "configuration": self.configuration,
            "source_tree_sha256": self.source_tree_sha256,
            "source_files": [vars(f) for f in self.source_files],
            "distributions": [
                {
                    "name": d.name,
                    "version": d.version,
                    "files": d.files,
                    "verified": d.verified,
                    "mismatched": d.mismatched,
                    "missing": d.missing,
                }
                for d in self.distributions
            ],
        }


def _sha256(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.digest()


def check_distribution(dist: metadata.Distribution) -> InstalledDistribution:
    result = InstalledDistribution(dist.metadata["Name"] or "?", dist.version)
    for file in dist.files or ():
        if file.hash is None or file.hash.mode != "sha256":
            continue  # RECORD itself, compiled files: no recorded hash
        result.files += 1
        path = Path(str(dist.locate_file(file)))
        if not path.is_file():
            result.missing.append(str(file))
            continue
        expected = base64.urlsafe_b64decode(file.hash.value + "=" * (-len(file.hash.value) % 4))
        if _sha256(path) == expected:
            result.verified += 1
        else:
            result.mismatched.append(str(file))
    return result


def source_files(root: Path = PACKAGE_DIR) -> list[SourceFile]:
    files = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(part in SKIPPED_PARTS for part in path.parts):
            files.append(
                SourceFile(path.relative_to(root.parent).as_posix(), _sha256(path).hex(), path.stat().st_size)
            )
    return files


def tree_digest(files: list[SourceFile]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.path}\0{f.sha256}\n".encode())
    return digest.hexdigest()


def masked_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL: say nothing about it
        return "***"


def configuration(settings: Settings) -> dict[str, str]:
    shown: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            shown[name] = "—"
        elif name.endswith("_url"):
            shown[name] = masked_url(str(value))
        elif any(word in name for word in ("secret", "password", "token")):
            shown[name] = "***"
        else:
            shown[name] = str(value)
    shown["db_url"] = masked_url(settings.db_url)
    return shown


def database(db: Database) -> dict[str, str]:
    dialect = db.engine.dialect.name
    with db.engine.connect() as conn:
        if dialect == "sqlite":
            version = "SQLite " + str(conn.execute(text("select sqlite_version()")).scalar())
        else:
            version = str(conn.execute(text("select version()")).scalar())
        try:
            revision = str(conn.execute(text("select version_num from alembic_version")).scalar())
        except Exception:
            revision = "—"
    return {
        "engine": dialect,
        "version": version,
        "schema_revision": revision,
        "url": masked_url(str(db.engine.url.render_as_string(hide_password=False))),
    }


def git_revision(root: Path = PACKAGE_DIR) -> str | None:
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", "-C", str(root), "rev-parse", "HEAD"],  # noqa: S607 - git from PATH, read-only
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def installation(db: Database | None, settings: Settings) -> Installation:
    files = source_files()
    distributions = sorted(
        (check_distribution(d) for d in metadata.distributions()), key=lambda d: d.name.lower()
    )
    return Installation(
        python=sys.version.split()[0],
        implementation=platform.python_implementation(),
        executable=sys.executable,
        platform=platform.platform(),
        distributions=distributions,
        source_files=files,
        source_tree_sha256=tree_digest(files),
        revision=git_revision(),
        database=database(db) if db is not None else {"engine": "—"},
        configuration=configuration(settings),
    )
