"""The validation report: the compliance matrix with installation and operational qualification evidence.

``pharmatrace compliance report --out DIR`` writes three files:

* ``matrix.json`` — one object per clause (id, kind, status, tests with outcome) for tools;
* ``index.html`` — one self-contained page (no external assets: the plant is air-gapped);
* ``report.pdf`` — the same, printable, with the Chinese font embedded.

Headings are bilingual (Chinese first): the report is a validation document read by QA and inspectors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from pharmatrace.compliance.catalogue import STANDARDS, Kind
from pharmatrace.compliance.matrix import SOFTWARE_STATUSES, Matrix, Row, Status, Tally
from pharmatrace.compliance.qualification import Installation
from pharmatrace.kernel import clock

LABELS: dict[Status, tuple[str, str]] = {
    Status.PASSING: ("已覆盖且通过", "covered and passing"),
    Status.FAILING: ("已覆盖但失败", "covered but failing"),
    Status.PARTIAL: ("部分覆盖", "partly covered"),
    Status.NOT_RUN: ("未运行", "not run"),
    Status.UNCOVERED: ("尚未覆盖", "not yet covered"),
    Status.PROCEDURAL: ("规程性条款", "procedural"),
    Status.HEADING: ("标题", "heading"),
    Status.INFORMATIVE: ("资料性", "informative"),
}
COLOURS: dict[Status, str] = {
    Status.PASSING: "#2e7d32",
    Status.FAILING: "#c62828",
    Status.PARTIAL: "#f9a825",
    Status.NOT_RUN: "#90a4ae",
    Status.UNCOVERED: "#e0e0e0",
    Status.PROCEDURAL: "#5c6bc0",
    Status.HEADING: "#ffffff",
    Status.INFORMATIVE: "#ffffff",
}
CHART_WIDTH = 560


@dataclass
class Bar:
    label: str
    total: int
    segments: list[tuple[Status, int, float, float]]  # status, count, x, width


def bars(tallies: list[Tally]) -> list[Bar]:
    """Stacked bars of software clauses by status, scaled to the largest chapter."""
    widest = max((t.software for t in tallies), default=0) or 1
    result = []
    for tally in tallies:
        x = 0.0
        segments = []
        for status in SOFTWARE_STATUSES:
            count = tally.counts[status]
            width = CHART_WIDTH * count / widest
            if count:
                segments.append((status, count, x, width))
            x += width
        result.append(Bar(tally.label, tally.software, segments))
    return result


def report_context(matrix: Matrix, iq: Installation, generated: datetime) -> dict[str, Any]:
    run = matrix.run
    chapters = [t for t in matrix.by_chapter() if t.software or t.procedural]
    return {
        "matrix": matrix,
        "run": run,
        "iq": iq,
        "generated": clock.format_beijing(generated),
        "standards": STANDARDS,
        "overall": matrix.tally(label="all"),
        "by_standard": matrix.by_standard(),
        "chapters": chapters,
        "bars": bars(chapters),
        "chart_width": CHART_WIDTH,
        "labels": LABELS,
        "colours": COLOURS,
        "software_statuses": SOFTWARE_STATUSES,
        "uncovered": matrix.software_uncovered(),
        "failing_tests": [
            t for t in (run.tests if run else []) if t.outcome in ("failed", "error", "xpassed")
        ],
        "totals": run.totals() if run else {},
        "beijing": clock.format_beijing,
        "Kind": Kind,
        "Status": Status,
    }


def render_html(context: dict[str, Any]) -> str:
    env = Environment(
        loader=PackageLoader("pharmatrace.compliance", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("compliance/report.html").render(**context)


def matrix_json(matrix: Matrix, iq: Installation, generated: datetime) -> dict[str, Any]:
    run = matrix.run
    return {
        "generated": generated.isoformat(),
        "run": None
        if run is None
        else {
            "started": run.started.isoformat(),
            "finished": run.finished.isoformat(),
            "duration": run.duration,
            "complete": run.complete,
            "exitstatus": run.exitstatus,
            "command": run.command,
            "totals": run.totals(),
        },
        "software_clauses_not_yet_covered": matrix.software_uncovered(),
        "summary": {
            t.label: {
                "software": t.software,
                "procedural": t.procedural,
                **{s.value: n for s, n in t.counts.items()},
            }
            for t in matrix.by_standard()
        },
        "installation": {
            "python": iq.python,
            "revision": iq.revision,
            "database": iq.database,
            "source_tree_sha256": iq.source_tree_sha256,
            "files_verified": iq.files_verified,
            "files_not_matching": iq.files_not_matching,
        },
        "clauses": matrix.as_json(),
    }


def write(out: Path, matrix: Matrix, iq: Installation, *, generated: datetime | None = None) -> list[Path]:
    """Write ``matrix.json``, ``index.html`` and ``report.pdf`` into ``out``; returns the paths."""
    from pharmatrace.compliance.report_pdf import render_pdf

    generated = generated or clock.now()
    out.mkdir(parents=True, exist_ok=True)
    context = report_context(matrix, iq, generated)
    paths = [out / "matrix.json", out / "index.html", out / "report.pdf", out / "installation.json"]
    paths[0].write_text(
        json.dumps(matrix_json(matrix, iq, generated), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    paths[1].write_text(render_html(context), encoding="utf-8")
    paths[2].write_bytes(render_pdf(context))
    paths[3].write_text(json.dumps(iq.as_json(), ensure_ascii=False, indent=1), encoding="utf-8")
    return paths


def evidence_line(row: Row) -> str:
    return ", ".join(f"{t.nodeid} [{t.outcome}]" for t in row.tests)
