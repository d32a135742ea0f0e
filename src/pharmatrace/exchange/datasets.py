"""Appendix B data sets of the Tianjin guide: records exported under the guide's short names and formats.

Each data set (one table of Appendix B, e.g. TJ-B.2.5 审计追踪数据集) maps the guide's data items — Chinese
name, short name (数据项短名, the field name in exchanges, TJ-B.1.3) and data type (TJ-B.1.5) — to a
PharmaTrace model. Values are formatted as the guide says: dates ``YYYYMMDD`` and date-times
``YYYYMMDDThhmmss`` (GB/T 7408.1-2023, Beijing time), booleans ``True``/``False``. One mapping per table;
the mapping's short names are checked against the requirements catalogue, so a mapping cannot drift from
the standard. The exchange interface (with the herbal base, the traceability platform) builds on this.

A data set with a *source* (``register(dataset, source=…)`` or :func:`register_source`) can be exported:
the source gives its records from a session, the permission says who may read them
(:mod:`pharmatrace.exchange.export`, ``GET /api/v1/exchange/datasets/{clause}``,
``pharmatrace datasets export``). The audit trail (TJ-B.2.5) has its own filtered export
(``/api/v1/audit/export``).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy.orm import Session

from pharmatrace.kernel import clock

DataType = Literal["字符型", "整数型", "浮点型", "日期型", "日期时间型", "布尔型", "二进制"]
Value = str | int | float | None


@dataclass(frozen=True)
class Item:
    short: str  # 数据项短名
    name: str  # 数据项名称
    type: DataType
    get: Callable[[Any], Any]


@dataclass(frozen=True)
class DataSet:
    clause: str  # e.g. "TJ-B.2.5"
    title: str
    items: tuple[Item, ...]

    @property
    def short_names(self) -> tuple[str, ...]:
        return tuple(item.short for item in self.items)

    def record(self, obj: Any) -> dict[str, Value]:
        return {item.short: format_value(item.type, item.get(obj)) for item in self.items}

    def records(self, objects: Iterable[Any]) -> list[dict[str, Value]]:
        return [self.record(obj) for obj in objects]


def format_value(kind: DataType, value: Any) -> Value:
    """A value in the exchange format of TJ-B.1.5."""
    if value is None:
        return None
    if kind == "日期时间型":
        assert isinstance(value, datetime)
        return clock.format_exchange(value)
    if kind == "日期型":
        if isinstance(value, datetime):
            value = clock.to_beijing(value).date()
        assert isinstance(value, date)
        return value.strftime("%Y%m%d")
    if kind == "布尔型":
        return "True" if value else "False"
    if kind == "整数型":
        return int(value)
    if kind == "浮点型":
        return float(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


@dataclass(frozen=True)
class Source:
    """Where a data set's records come from, and the permission that may read them."""

    records: Callable[[Session], Iterable[Any]]  # a SQLAlchemy session → the objects the items read
    permission: str


REGISTRY: dict[str, DataSet] = {}
SOURCES: dict[str, Source] = {}

# The modules that register the business areas' mappings; imported by :func:`load_all` so that the
# export and the catalogue check see every data set, whichever parts of the application are loaded.
MAPPING_MODULES: tuple[str, ...] = (
    "pharmatrace.equipment.service",
    "pharmatrace.wms.datasets",
    "pharmatrace.wms.stock",
    "pharmatrace.mes.datasets",
    "pharmatrace.lims.sample_datasets",
    "pharmatrace.lims.reagent_datasets",
    "pharmatrace.lims.result_datasets",
)


def register(
    dataset: DataSet, source: Callable[[Session], Iterable[Any]] | None = None, *, permission: str = ""
) -> DataSet:
    if dataset.clause in REGISTRY:
        raise ValueError(f"{dataset.clause} is mapped twice")
    REGISTRY[dataset.clause] = dataset
    if source is not None:
        register_source(dataset.clause, source, permission=permission)
    return dataset


def register_source(clause: str, records: Callable[[Session], Iterable[Any]], *, permission: str) -> None:
    """Make the data set ``clause`` exportable: ``records(session)`` gives its objects; readers need
    ``permission`` (besides ``exchange.export``)."""
    if clause not in REGISTRY:
        raise ValueError(f"{clause} is not mapped")
    if clause in SOURCES:
        raise ValueError(f"{clause} has a source already")
    if not permission:
        raise ValueError(f"{clause}: a source needs the permission that may read its records")
    SOURCES[clause] = Source(records, permission)


def load_all() -> dict[str, DataSet]:
    """Every registered data set, in clause order (imports the areas' mapping modules first)."""
    for module in MAPPING_MODULES:
        importlib.import_module(module)
    return {clause: REGISTRY[clause] for clause in sorted(REGISTRY, key=_clause_key)}


def _clause_key(clause: str) -> tuple[object, ...]:
    return tuple(int(part) if part.isdigit() else part for part in clause.replace("-", ".").split("."))


# --- TJ-B.2.5 审计追踪数据集 (表 B.18) --------------------------------------------------------------------


def _old(entry: Any) -> dict[str, Any]:
    return {name: pair[0] for name, pair in (entry.changes or {}).items() if isinstance(pair, list | tuple)}


def _new(entry: Any) -> dict[str, Any]:
    return {name: pair[1] for name, pair in (entry.changes or {}).items() if isinstance(pair, list | tuple)}


AUDIT_TRAIL = register(
    DataSet(
        "TJ-B.2.5",
        "审计追踪数据集",
        (
            Item("CZDX", "操作对象", "字符型", lambda e: f"{e.object_type}:{e.object_id}"),
            Item("CZLX", "操作类型", "字符型", lambda e: e.event),
            Item("CZZ", "操作者", "字符型", lambda e: f"{e.actor_name}（{e.actor_login}）"),
            Item("CZSJ", "操作时间", "日期时间型", lambda e: e.at),
            Item("CZYY", "操作原因", "字符型", lambda e: e.reason),
            Item("JZ", "旧值", "字符型", lambda e: _old(e) or None),
            Item("XZ", "新值", "字符型", lambda e: _new(e) or None),
        ),
    )
)


# --- TJ-B.2.6 电子签名数据集 (表 B.19) --------------------------------------------------------------------


def _meaning(signature: Any) -> str:
    from pharmatrace.kernel.esign.policy import MEANINGS
    from pharmatrace.web import i18n

    return i18n.translations("zh_CN").gettext(MEANINGS[signature.meaning])  # exchanged data is in Chinese


def _signatures(session: Session) -> Iterable[Any]:
    from sqlalchemy import select

    from pharmatrace.kernel.esign.models import Signature

    return session.scalars(select(Signature).order_by(Signature.id))


SIGNATURES = register(
    DataSet(
        "TJ-B.2.6",
        "电子签名数据集",
        (
            Item("QMR", "签名人", "字符型", lambda s: f"{s.signer_name}（{s.signer_login}）"),
            Item("QMSJ", "签名时间", "日期时间型", lambda s: s.signed_at),
            Item("QMHY", "签名含义", "字符型", _meaning),
        ),
    ),
    _signatures,
    permission="audit.trail.view",  # signatures belong to the records' trail (TJ-10.1.1.2)
)
