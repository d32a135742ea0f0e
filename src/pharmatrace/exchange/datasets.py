"""Appendix B data sets of the Tianjin guide: records exported under the guide's short names and formats.

Each data set (one table of Appendix B, e.g. TJ-B.2.5 审计追踪数据集) maps the guide's data items — Chinese
name, short name (数据项短名, the field name in exchanges, TJ-B.1.3) and data type (TJ-B.1.5) — to a
PharmaTrace model. Values are formatted as the guide says: dates ``YYYYMMDD`` and date-times
``YYYYMMDDThhmmss`` (GB/T 7408.1-2023, Beijing time), booleans ``True``/``False``. One mapping per table;
the mapping's short names are checked against the requirements catalogue, so a mapping cannot drift from
the standard. The exchange interface (with the herbal base, the traceability platform) builds on this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

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


REGISTRY: dict[str, DataSet] = {}


def register(dataset: DataSet) -> DataSet:
    if dataset.clause in REGISTRY:
        raise ValueError(f"{dataset.clause} is mapped twice")
    REGISTRY[dataset.clause] = dataset
    return dataset


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


SIGNATURES = register(
    DataSet(
        "TJ-B.2.6",
        "电子签名数据集",
        (
            Item("QMR", "签名人", "字符型", lambda s: f"{s.signer_name}（{s.signer_login}）"),
            Item("QMSJ", "签名时间", "日期时间型", lambda s: s.signed_at),
            Item("QMHY", "签名含义", "字符型", _meaning),
        ),
    )
)
