"""The requirements catalogue: every clause of the standards, as people wrote it down in ``docs/requirements``.

One YAML file per source (``SH.yaml``, ``SHD.yaml``, ``TJ.yaml``), one entry per numbered clause and list
item, in document order. The catalogue says what each clause asks (``kind``: the system must do it, or the
plant's organisation does it with a feature's support) and where it belongs (``area``, ``issue``); it never
says whether a clause is met. That comes only from the test run (see :mod:`pharmatrace.compliance.matrix`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REQUIREMENTS_ENV = "PHARMATRACE_REQUIREMENTS"
SOURCES = ("SH", "SHD", "TJ")
CLAUSE_ID = re.compile(r"^(SH|SHD|TJ)-(B\.)?\d+(\.\d+)*(\.[a-z])?$")

STANDARDS = {
    "SH": "DB31/T 1400-2023 药品生产全过程数字化追溯体系建设和运行规范",
    "SHD": "DB31/T 1400 药品生产全过程数字化追溯规范（征求意见稿）",
    "TJ": "T/TPPA 中药注射剂生产检验电子批记录技术指南（征求意见稿）",
}

AREAS = (
    "platform",
    "identity",
    "audit",
    "esign",
    "clock",
    "ledger",
    "data",
    "validation",
    "warehouse",
    "herbal",
    "equipment",
    "mes",
    "lims",
    "qms",
    "documents",
    "training",
    "trace",
    "monitoring",
    "video",
    "exchange",
)


class Kind(StrEnum):
    SOFTWARE = "software"  # the system must do it
    PROCEDURAL = "procedural"  # the plant's organisation does it; a feature supports it
    HEADING = "heading"  # a title grouping sub-clauses
    INFORMATIVE = "informative"  # states no requirement


class CatalogueError(Exception):
    """The catalogue files do not load or contradict themselves."""


class Requirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=CLAUSE_ID.pattern)
    parent: str | None = None
    text: str = Field(min_length=1)
    summary: str = Field(min_length=3)
    kind: Kind
    area: str
    issue: int | None = None
    supported_by: str | None = None
    reading: str | None = None  # a corrected reading where the published OCR garbles the text
    ocr_garbled: bool = False
    differs: str | None = None  # SHD only: what the published text lacks
    short_names: tuple[str, ...] = ()  # Appendix B data sets

    @model_validator(mode="after")
    def _consistent(self) -> Requirement:
        if self.area not in AREAS:
            raise ValueError(f"unknown area {self.area!r}; one of {', '.join(AREAS)}")
        if self.kind is Kind.PROCEDURAL and not self.supported_by:
            raise ValueError("a procedural clause names the feature that supports it (supported_by)")
        if self.source == "SHD" and not self.differs:
            raise ValueError("a draft clause says what the published text lacks (differs)")
        return self

    @property
    def source(self) -> str:
        return self.id.split("-", 1)[0]

    @property
    def number(self) -> str:
        return self.id.split("-", 1)[1]

    @property
    def chapter(self) -> str:
        """``7`` for SH-7.1.3.b; ``B`` for the Tianjin appendix."""
        first = self.number.split(".", 1)[0]
        return first

    @property
    def testable(self) -> bool:
        return self.kind is Kind.SOFTWARE


class Catalogue:
    """All requirements, in document order, with their parent/child structure."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements: dict[str, Requirement] = {}
        for requirement in requirements:
            if requirement.id in self.requirements:
                raise CatalogueError(f"{requirement.id} appears twice")
            self.requirements[requirement.id] = requirement
        for requirement in requirements:
            if requirement.parent is not None and requirement.parent not in self.requirements:
                raise CatalogueError(f"{requirement.id}: parent {requirement.parent} is not in the catalogue")

    def __contains__(self, clause_id: object) -> bool:
        return clause_id in self.requirements

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements.values())

    def __len__(self) -> int:
        return len(self.requirements)

    def __getitem__(self, clause_id: str) -> Requirement:
        return self.requirements[clause_id]

    @cached_property
    def children(self) -> dict[str, list[str]]:
        tree: dict[str, list[str]] = {}
        for requirement in self:
            if requirement.parent is not None:
                tree.setdefault(requirement.parent, []).append(requirement.id)
        return tree

    def descendants(self, clause_id: str) -> Iterator[str]:
        for child in self.children.get(clause_id, ()):
            yield child
            yield from self.descendants(child)

    def unknown(self, clause_ids: set[str]) -> set[str]:
        return {clause_id for clause_id in clause_ids if clause_id not in self.requirements}


def requirements_dir() -> Path:
    """``docs/requirements`` of this checkout, or ``PHARMATRACE_REQUIREMENTS``."""
    configured = os.environ.get(REQUIREMENTS_ENV)
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[3] / "docs" / "requirements"


def load(directory: Path | None = None) -> Catalogue:
    directory = directory or requirements_dir()
    entries: list[Requirement] = []
    for source in SOURCES:
        path = directory / f"{source}.yaml"
        if not path.exists():
            raise CatalogueError(f"the requirements catalogue {path} is missing")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        except yaml.YAMLError as error:
            raise CatalogueError(f"{path}: {error}") from error
        if not isinstance(raw, list):
            raise CatalogueError(f"{path}: expected a list of clauses")
        for index, item in enumerate(raw):
            try:
                requirement = Requirement.model_validate(item)
            except ValidationError as error:
                where = (
                    item.get("id", f"entry {index + 1}") if isinstance(item, dict) else f"entry {index + 1}"
                )
                reasons = "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
                    for e in error.errors()
                )
                raise CatalogueError(f"{path.name}: {where}: {reasons}") from error
            if requirement.source != source:
                raise CatalogueError(f"{path.name}: {requirement.id} belongs in {requirement.source}.yaml")
            entries.append(requirement)
    return Catalogue(entries)
