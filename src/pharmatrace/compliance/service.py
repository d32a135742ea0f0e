"""The current compliance matrix for the web UI: the catalogue joined with the last recorded test run.

Both inputs are files that change rarely (a new catalogue release, a new test run), so the joined matrix
is cached and rebuilt only when one of them changes on disk.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pharmatrace.compliance import catalogue, matrix, results
from pharmatrace.config import Settings


def _stamp(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def current_matrix(settings: Settings) -> matrix.Matrix:
    directory = catalogue.requirements_dir()
    run_path = results.default_path(settings.var_dir)
    stamps = tuple(_stamp(directory / f"{source}.yaml") for source in catalogue.SOURCES)
    return _build(directory, run_path, stamps, _stamp(run_path))


@lru_cache(maxsize=4)
def _build(directory: Path, run_path: Path, _stamps: tuple[float, ...], _run_stamp: float) -> matrix.Matrix:
    return matrix.build(catalogue.load(directory), results.load(run_path))
