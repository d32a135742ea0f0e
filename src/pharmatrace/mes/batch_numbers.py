"""Batch numbers from a configurable rule (批号编制规则, TJ-6.4.3.2, SH-6.2.1).

A rule is a pattern of literal characters (A–Z, 0–9, ``-``) and fields: ``{yyyy}``, ``{yy}``, ``{mm}``,
``{dd}`` (the release date in Beijing time) and exactly one ``{seq:0N}`` (the serial within the prefix,
N digits, 2–6), e.g. ``DH{yy}{mm}{seq:03}`` → ``DH2611001``. It is a site setting, validated when stored and
audited with its reason; numbers already given never change, and a number is never given twice (the serial
counter is drawn atomically, and a number taken before is skipped).
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, RULE, Conflict
from pharmatrace.kernel.identity.models import Setting
from pharmatrace.kernel.identity.schemas import Reason, Strict
from pharmatrace.kernel.identity.service import store_setting
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms.codes import next_serial

SETTINGS_KEY = "mes.batch_number_rule"
DEFAULT_PATTERN = "DH{yy}{mm}{seq:03}"
_TOKEN = re.compile(r"\{(yyyy|yy|mm|dd|seq:0([2-6]))\}")
_LITERAL = re.compile(r"^[A-Z0-9-]*$")
MAX_LENGTH = 24


def _parts(pattern: str) -> list[str]:
    """The pattern split into literals and fields; raises ValueError on anything else."""
    parts: list[str] = []
    position = 0
    for match in _TOKEN.finditer(pattern):
        literal = pattern[position : match.start()]
        if not _LITERAL.match(literal):
            raise ValueError(literal)
        parts.extend([literal, match.group(0)])
        position = match.end()
    tail = pattern[position:]
    if not _LITERAL.match(tail):
        raise ValueError(tail)
    parts.append(tail)
    return [p for p in parts if p]


def _sample_length(pattern: str) -> int:
    total = 0
    for part in _parts(pattern):
        match = _TOKEN.fullmatch(part)
        if match is None:
            total += len(part)
        elif match.group(1) == "yyyy":
            total += 4
        elif match.group(2):
            total += int(match.group(2))
        else:
            total += 2
    return total


class BatchNumberRule(Strict):
    pattern: str = DEFAULT_PATTERN

    @field_validator("pattern")
    @classmethod
    def _valid(cls, value: str) -> str:
        value = value.strip()
        try:
            parts = _parts(value)
        except ValueError:
            raise PydanticCustomError(
                RULE, N_("A batch number rule has letters A–Z, digits, “-” and the fields {{yyyy}}, {{yy}}, "
                         "{{mm}}, {{dd}}, {{seq:03}}")
            ) from None  # fmt: skip
        if sum(1 for p in parts if p.startswith("{seq:")) != 1:
            raise PydanticCustomError(RULE, N_("A batch number rule has exactly one serial field {{seq:0N}}"))
        if not parts or parts[0].startswith("{seq:"):
            raise PydanticCustomError(
                RULE, N_("A batch number starts with a fixed part or a date, not the serial")
            )
        if _sample_length(value) > MAX_LENGTH:
            raise PydanticCustomError(RULE, N_("Batch numbers by this rule would be too long"))
        return value


class BatchNumberRuleUpdate(BatchNumberRule):
    reason: Reason


def batch_number_rule(session: Session) -> BatchNumberRule:
    row = session.get(Setting, SETTINGS_KEY)
    return BatchNumberRule.model_validate(row.value) if row is not None else BatchNumberRule()


def set_batch_number_rule(uow: UnitOfWork, update: BatchNumberRuleUpdate) -> BatchNumberRule:
    """Store the rule (audited old → new with the reason). Batch numbers already given stay."""
    values = update.model_dump(exclude={"reason"})
    store_setting(uow, SETTINGS_KEY, values, update.reason)
    return BatchNumberRule.model_validate(values)


def render(pattern: str, at: datetime, serial: int | None) -> str:
    """The number for ``serial`` (``#`` in place of the serial when None: the counter's prefix)."""
    local = clock.to_beijing(at)
    values = {"yyyy": f"{local.year:04d}", "yy": f"{local.year % 100:02d}", "mm": f"{local.month:02d}",
              "dd": f"{local.day:02d}"}  # fmt: skip

    def field(match: re.Match[str]) -> str:
        if match.group(2):
            return "#" if serial is None else f"{serial:0{int(match.group(2))}d}"
        return values[match.group(1)]

    return _TOKEN.sub(field, pattern)


def next_batch_number(session: Session, at: datetime | None = None) -> str:
    """Draw the next batch number by the current rule (in the caller's transaction)."""
    from pharmatrace.mes.execution_models import BatchOrder

    rule = batch_number_rule(session)
    at = at or clock.now()
    digits = next(int(m.group(2)) for m in _TOKEN.finditer(rule.pattern) if m.group(2))
    prefix = render(rule.pattern, at, None)
    while True:
        serial = next_serial(session, f"MES:{prefix}"[:32])
        if serial >= 10**digits:
            raise Conflict(N_("The serial numbers of {prefix} are used up"), prefix=prefix.replace("#", ""))
        number = render(rule.pattern, at, serial)
        if session.scalar(select(BatchOrder.id).where(BatchOrder.batch_no == number)) is None:
            return number
