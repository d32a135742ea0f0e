"""Inputs and outputs of monitoring configuration and the historian (SH-8.4.3, TJ-6.5).

The database holds the same rules (migration 0033); the service adds what needs the plant: the equipment or room
a tag's name names, the source it is bound to, who may configure it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pharmatrace.kernel.errors import N_, RULE
from pharmatrace.kernel.identity.schemas import Reason, Strict
from pharmatrace.mes.historian_seam import TAG_PATTERN

Protocol = Literal["opcua", "mqtt", "modbus"]
DataType = Literal["float", "decimal", "int", "bool"]
Quality = Literal["good", "uncertain", "bad"]
RetentionClass = Literal["gmp", "environment", "utility", "information"]  # rollup_models.RETENTION_YEARS

SourceCode = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
]
TagName = Annotated[str, StringConstraints(strip_whitespace=True, pattern=TAG_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Address = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]
Unit = Annotated[str, StringConstraints(strip_whitespace=True, max_length=16)]
Limit = Annotated[Decimal, Field(max_digits=18, decimal_places=6)]


class SourceCreate(Strict):
    """A data source: its code, name, protocol and endpoint (opc.tcp://…, mqtt://host:port, modbus://host:port/unit)."""

    code: SourceCode
    name: Name
    protocol: Protocol
    endpoint: Address
    description: Text = ""


class SourceChange(Strict):
    """A change of a source's name, endpoint or description (with a reason, audited); its code and protocol stay."""

    reason: Reason
    name: Name | None = None
    endpoint: Address | None = None
    description: Text | None = None


class SourcePublic(BaseModel):
    code: str
    name: str
    protocol: str
    endpoint: str
    description: str
    created_at: datetime
    created_by: str
    voided_at: datetime | None = None
    void_reason: str | None = None


def _limits(low: Decimal | None, high: Decimal | None) -> None:
    if low is not None and high is not None and low >= high:
        raise PydanticCustomError(RULE, N_("The low limit must be below the high limit"))


class TagCreate(Strict):
    """A tag ``<equipment or room code>.<signal>`` (historian_seam.TAG_PATTERN) bound to a source's address."""

    name: TagName
    source: SourceCode
    address: Address
    data_type: DataType
    unit: Unit = ""
    decimals: Annotated[int, Field(ge=0, le=9)] = 0
    low_limit: Limit | None = None
    high_limit: Limit | None = None
    scan_rate_ms: Annotated[int, Field(ge=10, le=3_600_000)] = 1000
    location: Short = ""
    description: Text = ""
    retention_class: RetentionClass = "gmp"  # the strictest (longest keep) unless said otherwise

    @model_validator(mode="after")
    def _check(self) -> TagCreate:
        _limits(self.low_limit, self.high_limit)
        return self


class TagChange(Strict):
    """A change of a tag's limits, scan rate, unit or description (with a reason, audited)."""

    reason: Reason
    low_limit: Limit | None = None
    high_limit: Limit | None = None
    scan_rate_ms: Annotated[int, Field(ge=10, le=3_600_000)] | None = None
    unit: Unit | None = None
    description: Text | None = None
    retention_class: RetentionClass | None = None

    @model_validator(mode="after")
    def _check(self) -> TagChange:
        _limits(self.low_limit, self.high_limit)
        return self


class TagPublic(BaseModel):
    name: str
    source: str
    protocol: str
    equipment: str | None
    room: str | None
    unit: str
    data_type: str
    decimals: int
    low_limit: Decimal | None
    high_limit: Decimal | None
    scan_rate_ms: int
    address: str
    location: str
    description: str
    retention_class: str = "gmp"
    latest_value: str | None = None
    latest_quality: str | None = None
    latest_source_time: datetime | None = None


class ValuePublic(BaseModel):
    tag: str
    source_time: datetime
    server_time: datetime
    value: str | None
    quality: str
    status_code: int | None


class TrendPointPublic(BaseModel):
    """One point of a trend: ``value`` (a raw value, or a bucket's mean) is ``null`` for a gap — bad quality, or
    no data; ``low``/``high`` the envelope of the values it stands for (``null`` for a single raw value)."""

    at: datetime
    value: float | None
    low: float | None
    high: float | None


class TrendPublic(BaseModel):
    tag: str
    unit: str
    low_limit: Decimal | None
    high_limit: Decimal | None
    since: datetime
    until: datetime
    source: Literal["raw", "1m", "1h"]  # what was read: the raw values, or the 1-minute or 1-hour roll-ups
    read: int  # rows read before downsampling
    points: list[TrendPointPublic]


class RetentionPublic(BaseModel):
    retention_class: str
    years: int
    tags: int
    values: int
    oldest: datetime | None
    kept_until: datetime | None
    cutoff: datetime
    past_keep: int
