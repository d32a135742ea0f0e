"""Monitoring records: data sources, tags and historian values (SH-8.4.3, SH-8.4.1, TJ-6.5).

* :class:`DataSource` — where values come from (数据源): an OPC UA server, an MQTT broker's topics, a Modbus TCP
  device. GMP configuration: created and changed through the unit of work with the trail, voided with a reason.
* :class:`Tag` — one signal (位号) of one piece of equipment or one room, ``FD-01.shelf_temperature``: unit, data
  type, decimals, limits, scan rate, its address at the source, its raw-retention class
  (:data:`~.rollup_models.RETENTION_YEARS`). GMP configuration as the source.
* :class:`Ingest` — one batch of raw values stored at once, append-only and audited: the count, the range of
  source times, and the SM3 of the values it stored (:func:`pharmatrace.monitoring.historian.values_sm3`). Its
  audit entry is a leaf of the ledger, so the ledger covers every value without an audit row per value.
* :class:`HistorianValue` — one raw value: source time (kept to the microsecond), server time, the value as
  exact text plus a double for range queries, quality and the protocol's status code. Append-only, written only
  inside a unit of work (triggers), each row tied to the ingest that vouches for it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.monitoring.rollup_models import RETENTION_CLASSES
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime, one_of

PROTOCOLS = ("opcua", "mqtt", "modbus")
DATA_TYPES = (
    "float",
    "decimal",
    "int",
    "bool",
)  # float: IEEE double; decimal: exact with ``decimals`` places
QUALITIES = ("good", "uncertain", "bad")  # OPC UA's three severities; GOOD is historian_seam.GOOD
LIMIT_SCALE = Decimal("0.000001")  # Numeric(18, 6)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class DataSource(Audited, Base):
    """A data source (数据源): one protocol peer the collector talks to."""

    __tablename__ = "monitoring_sources"
    __audit_type__ = "monitoring_source"
    __audit_label__ = N_("Monitoring data source")
    __table_args__ = (
        CheckConstraint(_in("protocol", PROTOCOLS), name="protocol"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint(
            "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)",
            name="void_reason",
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    protocol: Mapped[str] = mapped_column(String(16), nullable=False)
    endpoint: Mapped[str] = mapped_column(String(256), nullable=False)  # opc.tcp://…, mqtt://…, modbus://…
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)


class Tag(Audited, Base):
    """A tag (位号): ``<equipment or room code>.<signal>``, bound to one source and one address there."""

    __tablename__ = "monitoring_tags"
    __audit_type__ = "monitoring_tag"
    __audit_label__ = N_("Monitoring tag")
    __table_args__ = (
        CheckConstraint(_in("data_type", DATA_TYPES), name="data_type"),
        CheckConstraint("decimals >= 0 AND decimals <= 9", name="decimals"),
        CheckConstraint("scan_rate_ms >= 10", name="scan_rate"),
        CheckConstraint("low_limit IS NULL OR high_limit IS NULL OR low_limit < high_limit", name="limits"),
        CheckConstraint("equipment_id IS NOT NULL OR room_id IS NOT NULL", name="bound"),
        CheckConstraint(_in("retention_class", RETENTION_CLASSES), name="retention_class"),
        CheckConstraint(
            "(voided_at IS NULL) = (void_reason IS NULL) AND (void_reason IS NULL OR length(void_reason) >= 2)",
            name="void_reason",
        ),
        UniqueConstraint("source_id", "address", name="uq_monitoring_tags_source_address"),
        Index("ix_monitoring_tags_source_id", "source_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(96), unique=True, nullable=False)  # historian_seam.TAG_PATTERN
    source_id: Mapped[int] = mapped_column(ForeignKey("monitoring_sources.id"), nullable=False)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    location: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    unit: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    data_type: Mapped[str] = mapped_column(String(8), nullable=False)
    decimals: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    low_limit: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    high_limit: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), nullable=True)
    scan_rate_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=1000)
    address: Mapped[str] = mapped_column(String(256), nullable=False)  # node id, topic#field, hr:40001
    # how long its raw values stay online (SH-8.4.3); the strictest class unless the engineer says otherwise
    retention_class: Mapped[str] = mapped_column(
        String(16), nullable=False, default="gmp", server_default="gmp"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    void_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    @validates("low_limit", "high_limit")
    def _scaled(self, key: str, value: Decimal | None) -> Decimal | None:
        # Held at the column's scale, so the ledger entry and the row read back are the same (90 → 90.000000).
        return None if value is None else Decimal(value).quantize(LIMIT_SCALE)


class Ingest(Audited, Base):
    """One batch of raw values, committed by the unit of work as one audited record naming their SM3."""

    __tablename__ = "monitoring_ingests"
    __audit_type__ = "monitoring_ingest"
    __audit_label__ = N_("Historian ingest")
    __table_args__ = (
        CheckConstraint("stored >= 0 AND duplicates >= 0", name="counts"),
        CheckConstraint("length(values_sm3) = 64", name="values_sm3"),
        Index("ix_monitoring_ingests_source_id", "source_id"),
        # "did an earlier ingest of this source cover these times?" — the ingest's duplicate check (0059)
        Index("ix_monitoring_ingests_source_last", "source_id", "last_source_time"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    batch_key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)  # idempotent re-sends
    source_id: Mapped[int] = mapped_column(ForeignKey("monitoring_sources.id"), nullable=False)
    stored: Mapped[int] = mapped_column(Integer, nullable=False)
    duplicates: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_source_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_source_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    values_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class HistorianValue(Base):
    """One raw value (原始数据): never changed, never deleted; vouched for by its ingest's SM3."""

    __tablename__ = "monitoring_values"
    __table_args__ = (
        CheckConstraint(one_of("quality", QUALITIES), name="quality"),  # thousands a scan: not an IN list
        UniqueConstraint("tag_id", "source_time", name="uq_monitoring_values_tag_time"),
        Index("ix_monitoring_values_ingest_id", "ingest_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("monitoring_tags.id"), nullable=False)
    ingest_id: Mapped[int] = mapped_column(ForeignKey("monitoring_ingests.id"), nullable=False)
    source_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    server_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    value: Mapped[str | None] = mapped_column(String(64), nullable=True)  # exact text; None: no value (bad)
    number: Mapped[float | None] = mapped_column(Double(), nullable=True)  # for ranges and trends only
    quality: Mapped[str] = mapped_column(String(10), nullable=False)
    status_code: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # OPC UA StatusCode, raw
