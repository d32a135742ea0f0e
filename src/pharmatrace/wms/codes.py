"""Internal lot numbers and container codes by the site's code rule (TJ-6.3.1, TJ-B.2.2.1).

The guide gives the format ``AAYYMMBBBBB`` as its example of a material code (WLBM); here it numbers each
lot received, and the material data set exchanges that number as the internal lot number (WLPH) next to the
material master's code (WLBM), see :mod:`pharmatrace.wms.datasets`.

The default rule is the guide's example ``AAYYMMBBBBB``: the material type (2 characters), year and month
of receipt in Beijing time, and a serial of 5 digits, e.g. ``YC261100001``. Each container is the lot
number, "-" and its 3-digit number: ``YC261100001-007``. The rule is a site setting (``wms.code_rule``),
changed by the administrator with a reason and audited like every setting.

Serials come from ``code_counters``, one row per prefix, advanced by a single atomic upsert in the
transaction of the receipt: two receipts at once never draw the same serial (the row is locked until the
first commits). Lot numbers and container codes are unique in the database and never reused: lots are
voided, never deleted, and a number already taken is skipped.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, RULE, Conflict
from pharmatrace.kernel.identity.models import Setting
from pharmatrace.kernel.identity.schemas import Reason, Strict
from pharmatrace.kernel.identity.service import store_setting
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.wms.models import MATERIAL_KINDS, CodeCounter, Lot

SETTINGS_KEY = "wms.code_rule"
DEFAULT_PATTERN = "{type}{yy}{mm}{serial}"
DEFAULT_TYPE_CODES: dict[str, str] = {
    "herb": "YC",  # 药材
    "decoction_piece": "YP",  # 饮片
    "extract": "TQ",  # 提取物
    "excipient": "FL",  # 辅料
    "primary_packaging": "NB",  # 内包材
    "secondary_packaging": "WB",  # 外包材
    "intermediate": "ZJ",  # 中间产品
    "finished_good": "CP",  # 成品
}
PLACEHOLDERS = ("type", "yyyy", "yy", "mm", "serial")
# What each field of a pattern stands for (msgids), shown with the rule (pages, CLI).
PLACEHOLDER_MEANINGS: dict[str, str] = {
    "type": N_("the type code of the material's kind"),
    "yyyy": N_("the year of receipt, 4 digits (Beijing time)"),
    "yy": N_("the year of receipt, 2 digits (Beijing time)"),
    "mm": N_("the month of receipt, 2 digits (Beijing time)"),
    "serial": N_("the serial number, counted per prefix, with the rule's number of digits"),
}
assert set(PLACEHOLDER_MEANINGS) == set(PLACEHOLDERS)
LOT_NUMBER_MAX = 28  # the lot number and "-NNN" fit the 32 characters of a container code
RECEIPT_PREFIX = "RC"

TypeCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9]{1,4}$")]
_FIELD = re.compile(r"\{([a-z]+)\}")


class CodeRule(Strict):
    """The site's rule for internal lot numbers."""

    pattern: Annotated[str, StringConstraints(strip_whitespace=True, min_length=7, max_length=40)] = (
        DEFAULT_PATTERN
    )
    serial_digits: int = Field(default=5, ge=3, le=8)
    type_codes: dict[str, TypeCode] = Field(default_factory=lambda: dict(DEFAULT_TYPE_CODES))

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, pattern: str) -> str:
        names = _FIELD.findall(pattern)
        literal = _FIELD.sub("", pattern)
        if names.count("serial") != 1 or "type" not in names or any(n not in PLACEHOLDERS for n in names):
            raise PydanticCustomError(
                RULE,
                N_(
                    "The pattern needs the fields “type” and “serial” (once each) and knows only “yyyy”, “yy” and “mm”"
                ),
            )
        if not re.fullmatch(r"[A-Z0-9]*", literal):
            raise PydanticCustomError(RULE, N_("Outside its fields the pattern may hold only A–Z and 0–9"))
        return pattern

    @model_validator(mode="after")
    def _complete(self) -> CodeRule:
        if set(self.type_codes) != set(MATERIAL_KINDS):
            raise PydanticCustomError(RULE, N_("Every kind of material needs its type code"))
        if len(set(self.type_codes.values())) != len(self.type_codes):
            raise PydanticCustomError(RULE, N_("Two kinds of material have the same type code"))
        longest = max(len(code) for code in self.type_codes.values())
        sample = _render(self.pattern, "X" * longest, clock.now(), "9" * self.serial_digits)
        if len(sample) > LOT_NUMBER_MAX:
            raise PydanticCustomError(RULE, N_("Lot numbers by this rule would be too long"))
        return self


class CodeRuleUpdate(CodeRule):
    reason: Reason


def _render(pattern: str, type_code: str, at: datetime, serial: str) -> str:
    local = clock.to_beijing(at)
    values = {
        "type": type_code,
        "yyyy": f"{local.year:04d}",
        "yy": f"{local.year % 100:02d}",
        "mm": f"{local.month:02d}",
        "serial": serial,
    }
    return _FIELD.sub(lambda m: values[m.group(1)], pattern)


def code_rule(session: Session) -> CodeRule:
    row = session.get(Setting, SETTINGS_KEY)
    return CodeRule.model_validate(row.value) if row is not None else CodeRule()


def set_code_rule(uow: UnitOfWork, update: CodeRuleUpdate) -> CodeRule:
    """Store the rule; the unit of work audits old → new with the reason. Numbers already given stay."""
    values = update.model_dump(exclude={"reason"})
    store_setting(uow, SETTINGS_KEY, values, update.reason)
    return CodeRule.model_validate(values)


def next_serial(session: Session, prefix: str) -> int:
    """Advance the counter of ``prefix`` and return the new serial, in the caller's transaction.

    One ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement: on PostgreSQL it locks the counter row until
    commit, so a concurrent receipt waits and then draws the next serial; SQLite has one writer at a time.
    """
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    column = CodeCounter.last_serial
    statement = (
        dialect.insert(CodeCounter)
        .values(prefix=prefix, last_serial=1)
        .on_conflict_do_update(index_elements=["prefix"], set_={"last_serial": column + 1})
        .returning(column)
    )
    return int(session.execute(statement).scalar_one())


def next_lot_number(session: Session, kind: str, at: datetime | None = None) -> str:
    """The next internal lot number for a material of ``kind`` received at ``at`` (now)."""
    rule = code_rule(session)
    at = at or clock.now()
    prefix = _render(rule.pattern, rule.type_codes[kind], at, "#")
    while True:
        serial = next_serial(session, prefix)
        if serial >= 10**rule.serial_digits:
            raise Conflict(N_("The serial numbers of {prefix} are used up"), prefix=prefix.replace("#", ""))
        number = prefix.replace("#", f"{serial:0{rule.serial_digits}d}")
        # A number taken before (another rule, a counter set back) is skipped: codes are never reused.
        if session.scalar(select(Lot.id).where(Lot.lot_number == number)) is None:
            return number


def preview_lot_number(
    session: Session, kind: str, at: datetime | None = None, rule: CodeRule | None = None
) -> str:
    """The lot number the next receipt of a material of ``kind`` would get now, without drawing a serial
    (read only: the counter is not advanced, and a receipt in between may take it first)."""
    rule = rule or code_rule(session)
    prefix = _render(rule.pattern, rule.type_codes[kind], at or clock.now(), "#")
    last = session.scalar(select(CodeCounter.last_serial).where(CodeCounter.prefix == prefix)) or 0
    serial = last + 1
    while serial < 10**rule.serial_digits:
        number = prefix.replace("#", f"{serial:0{rule.serial_digits}d}")
        if session.scalar(select(Lot.id).where(Lot.lot_number == number)) is None:
            return number
        serial += 1
    raise Conflict(N_("The serial numbers of {prefix} are used up"), prefix=prefix.replace("#", ""))


def next_receipt_number(session: Session, at: datetime | None = None) -> str:
    """``RC`` + year and month (Beijing) + a 5-digit serial: ``RC261100042``."""
    prefix = _render(RECEIPT_PREFIX + "{yy}{mm}{serial}", "", at or clock.now(), "#")
    serial = next_serial(session, prefix)
    if serial >= 100_000:
        raise Conflict(N_("The serial numbers of {prefix} are used up"), prefix=prefix.replace("#", ""))
    return prefix.replace("#", f"{serial:05d}")


def container_code(lot_number: str, number: int) -> str:
    return f"{lot_number}-{number:03d}"


CONTAINER_CODE = re.compile(r"^([A-Z0-9]{4,28})-(\d{3})$")
