"""Read the numbered clauses out of the standards' own texts.

The requirements catalogue (``docs/requirements/*.yaml``) is written by people; this module is what
keeps it honest. It finds every numbered clause and every list item (``a)``, ``b)``…) in the seed texts
so a test can check the catalogue against them without a hard-coded count.

* The published Shanghai standard (DB31/T 1400-2023) is an OCR of a PDF: one long line, page headers
  mixed in, the architecture figure garbled into the text of 6.2.1-6.2.3. Clause numbers are found as
  numbers followed by Chinese text and accepted only when they continue the numbering (a next sibling,
  a first child, or the next chapter), which drops page numbers, years and the figure's noise.
* The Tianjin guide (T/TPPA draft) is Markdown: clause numbers start a line (headings or paragraphs),
  list items are ``- a) …`` lines, and Appendix B tables list each data set's short names (数据项短名).

Chapters 1-3 (scope, normative references, terms) and, for Shanghai, chapter 4 (abbreviations) state no
requirement and are left out, as are the informative figures and Appendix A of both texts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pharmatrace.compliance.catalogue import Catalogue

SOURCES = Path(__file__).resolve().parents[3] / "docs" / "requirements" / "sources"
PUBLISHED_SHANGHAI = "DB31-T1400-2023_published_shanghai.txt"
DRAFT_SHANGHAI = "DB31-T1400_draft_shanghai_digital_traceability.txt"
TIANJIN = "T-TPPA_draft_tcm_injection_ebr_guide.md"

_HAN = "\u4e00-\u9fff"
_LIST_ITEM = re.compile(r"(?<![A-Za-z0-9])([a-z])\)\s*")


@dataclass
class SeedClause:
    """One numbered clause or list item as the seed text states it."""

    id: str
    text: str
    parent: str | None = None
    short_names: list[str] = field(default_factory=list)  # Appendix B data sets only


def _number(raw: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.split(r"\.\s*", raw.strip()))


def _continues(previous: tuple[int, ...], candidate: tuple[int, ...], gap: int = 1) -> bool:
    """True when ``candidate`` is the next clause number after ``previous`` in a numbered outline.

    The next sibling at any depth or a first child continue it; so do the first descendants of the next
    sibling when a heading line is missing. ``gap`` > 1 tolerates that many numbers lost to the OCR.
    """
    if candidate[: len(previous)] == previous and len(candidate) == len(previous) + 1:
        return 1 <= candidate[-1] <= gap
    for depth in range(len(previous)):
        stem = previous[:depth]
        if len(candidate) <= depth or candidate[:depth] != stem:
            continue
        if not 1 <= candidate[depth] - previous[depth] <= gap:
            continue
        return all(1 <= part <= gap for part in candidate[depth + 1 :])
    return False


def _split_list_items(clause_id: str, text: str) -> Iterator[SeedClause]:
    """The clause's own text, then one entry per list item ``a)``, ``b)``… in sequence."""
    cuts: list[tuple[int, int, str]] = []
    expected = "a"
    for match in _LIST_ITEM.finditer(text):
        if match.group(1) == expected:
            cuts.append((match.start(), match.end(), expected))
            expected = chr(ord(expected) + 1)
    own = text[: cuts[0][0]] if cuts else text
    yield SeedClause(clause_id, _clean(own))
    for index, (_, end, letter) in enumerate(cuts):
        stop = cuts[index + 1][0] if index + 1 < len(cuts) else len(text)
        yield SeedClause(f"{clause_id}.{letter}", _clean(text[end:stop]), parent=clause_id)


def _clean(text: str) -> str:
    text = re.sub(r"\s*\d?DB31/T 1400\s*2023\s*", "", text)  # OCR page headers and footers
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    text = re.sub(r"\n{2,}", "\n", text)
    return text.strip(" -\n;；")


def _parent(number: tuple[int, ...], prefix: str, seen: set[str]) -> str | None:
    for depth in range(len(number) - 1, 0, -1):
        candidate = f"{prefix}{'.'.join(map(str, number[:depth]))}"
        if candidate in seen:
            return candidate
    return None


# --- the published Shanghai standard (OCR, one line) -----------------------------------------------

_SH_NUMBER = re.compile(rf"(?<![\d.A-Za-z/])(\d{{1,2}}(?:\.\d{{1,2}}){{0,3}})\s*(?=[{_HAN}])")


def parse_shanghai(text: str, *, first_chapter: int = 5) -> list[SeedClause]:
    """Numbered clauses of the published Shanghai text, from ``first_chapter`` to the end of chapter 8."""
    start = text.rfind("1范围本文件")
    body = re.sub(r"\d?DB31/T 1400\s*2023", " ", text[start:])  # page headers glue page numbers on
    end = body.find("附录 A(资料性)药品生产")
    body = body[:end] if end > 0 else body
    marks: list[tuple[tuple[int, ...], int, int]] = []
    previous: tuple[int, ...] = (0,)
    for match in _SH_NUMBER.finditer(body):
        number = _number(match.group(1))
        if _continues(previous, number, gap=2):
            marks.append((number, match.start(), match.end()))
            previous = number
    clauses: list[SeedClause] = []
    seen: set[str] = set()
    for index, (number, _, text_start) in enumerate(marks):
        if number[0] < first_chapter:
            continue
        stop = marks[index + 1][1] if index + 1 < len(marks) else len(body)
        clause_id = "SH-" + ".".join(map(str, number))
        parent = _parent(number, "SH-", seen)
        for item in _split_list_items(clause_id, body[text_start:stop]):
            item.parent = item.parent or parent
            clauses.append(item)
            seen.add(item.id)
    return clauses


# --- the Tianjin guide (Markdown) ------------------------------------------------------------------

_TJ_LINE = re.compile(
    r"^(?P<hashes>#*)\s*(?P<appendix>B\.\s*)?(?P<number>\d{1,2}(?:\.\s*\d{1,2}){0,5})\s*(?P<rest>.*)$"
)
_TJ_ITEM = re.compile(r"^(?:-\s*)?([a-z])\)\s*(.*)$")


def parse_tianjin(text: str, *, first_chapter: int = 4) -> list[SeedClause]:
    """Numbered clauses, list items and Appendix B data sets of the Tianjin guide."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"^#+\s*{first_chapter}\s+[{_HAN}]", line))
    clauses: list[SeedClause] = []
    by_id: dict[str, SeedClause] = {}
    current: SeedClause | None = None
    previous: dict[str, tuple[int, ...]] = {"": (first_chapter - 1,), "B.": (0,)}
    next_letter = "a"
    in_appendix_a = False
    for line in lines[start:]:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("附录 A"):
            in_appendix_a, current = True, None
            continue
        if stripped.startswith("附录 B"):
            in_appendix_a = False
            continue
        match = _TJ_LINE.match(stripped)
        if match and not in_appendix_a and _is_clause_line(match):
            prefix = "B." if match.group("appendix") else ""
            number = _number(match.group("number"))
            if _continues(previous[prefix], number):
                previous[prefix] = number
                clause_id = f"TJ-{prefix}{'.'.join(map(str, number))}"
                current = SeedClause(clause_id, "", parent=_parent(number, f"TJ-{prefix}", set(by_id)))
                current.text = _clean(match.group("rest").lstrip("#").strip())
                clauses.append(current)
                by_id[clause_id] = current
                next_letter = "a"
                continue
        if current is None or in_appendix_a:
            continue
        item = _TJ_ITEM.match(stripped)
        if item and item.group(1) == next_letter:
            parent_id = current.parent if _is_item(current) and current.parent else current.id
            entry = SeedClause(f"{parent_id}.{next_letter}", _clean(item.group(2)), parent=parent_id)
            clauses.append(entry)
            by_id[entry.id] = entry
            current = entry
            next_letter = chr(ord(next_letter) + 1)
            continue
        if current.id.startswith("TJ-B.2") and "\t" in stripped:
            cells = stripped.split("\t")
            owner = current if not _is_item(current) else by_id[current.parent or current.id]
            if cells[0].strip().isdigit() and len(cells) > 2:
                owner.short_names.append(cells[2].replace(" ", ""))
            continue
        current.text = _clean(f"{current.text}\n{stripped}")
    return clauses


def _is_item(clause: SeedClause) -> bool:
    return bool(re.search(r"\.[a-z]$", clause.id))


def _is_clause_line(match: re.Match[str]) -> bool:
    """A single number (``4``) is a chapter only as a heading; deeper numbers may start a paragraph."""
    rest = match.group("rest")
    if "\t" in rest or rest.startswith(("、", "）", ")", "%", "个", "月", "年")):
        return False
    if "." not in match.group("number"):
        return bool(match.group("hashes")) or bool(match.group("appendix"))
    return rest == "" or bool(re.match(rf"^[#\s]*[{_HAN}A-Za-z]", rest))


def load(name: str) -> str:
    return (SOURCES / name).read_text(encoding="utf-8")


def seed_clauses() -> dict[str, list[SeedClause]]:
    """Every numbered clause of the two standards, by prefix: ``{"SH": […], "TJ": […]}``."""
    return {"SH": parse_shanghai(load(PUBLISHED_SHANGHAI)), "TJ": parse_tianjin(load(TIANJIN))}


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def compare(catalogue: Catalogue) -> list[str]:
    """Where the catalogue and the standards' texts disagree; empty when the catalogue is complete.

    Every numbered clause and list item of the texts must be in the catalogue with the text the standard
    gives it (whitespace aside), and the catalogue may hold no SH or TJ clause the texts do not number,
    except those marked ``ocr_garbled`` (published 6.2.x, lost in the OCR of the figure). Each draft
    clause (SHD) must be quoted verbatim from the draft.
    """
    problems: list[str] = []
    for prefix, clauses in seed_clauses().items():
        numbered = set()
        for clause in clauses:
            numbered.add(clause.id)
            if clause.id not in catalogue:
                problems.append(f"{clause.id} is numbered in the standard but missing from the catalogue")
                continue
            entry = catalogue[clause.id]
            if not entry.ocr_garbled and _squeezed(entry.text) != _squeezed(clause.text):
                problems.append(f"{clause.id}: the catalogue's text is not the standard's")
            if tuple(clause.short_names) != entry.short_names:
                problems.append(f"{clause.id}: the short names are not those of the standard's table")
        for entry in catalogue:
            if entry.source == prefix and entry.id not in numbered and not entry.ocr_garbled:
                problems.append(f"{entry.id} is in the catalogue but the standard does not number it")
    draft = _squeezed(load(DRAFT_SHANGHAI))
    for entry in catalogue:
        if entry.source == "SHD" and _squeezed(entry.text) not in draft:
            problems.append(f"{entry.id}: the text is not quoted from the draft")
    return problems
