"""Historian roll-ups and retention classes (SH-8.4.3): see :mod:`pharmatrace.monitoring.rollups`.

* :class:`Rollup` — one bucket (1 min or 1 h, by its UTC start) of one tag: the minimum, maximum and sum of its
  usable values (quality good or uncertain, with a number) and their count, the count of bad values (quality bad
  or no value), the first and last source time seen in the bucket. Derived data: written by the ingest's unit of
  work only (trigger), merged as values arrive — so a bucket only grows: its counts never fall, its minimum never
  rises, its maximum never falls (trigger) — and never deleted. The raw values stay the truth.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Double, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

PERIODS = ("1m", "1h")  # bucket widths, in the order trends fall back to them
PERIOD_SECONDS = {"1m": 60, "1h": 3600}
# Raw-retention classes of tags: the years raw values must stay online (queryable at full resolution) after their
# source time before they may be archived. Plant policy, held here; the database CHECKs the class names.
RETENTION_YEARS = {"gmp": 6, "environment": 6, "utility": 3, "information": 1}
RETENTION_CLASSES = tuple(RETENTION_YEARS)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


class Rollup(Base):
    """One 1-minute or 1-hour bucket of a tag's values (汇总数据), merged as values arrive; never deleted. On
    PostgreSQL its pages are kept half free for the merges' updates (``fillfactor = 50``, migration 0057)."""

    __tablename__ = "monitoring_rollups"
    __table_args__ = (
        CheckConstraint(_in("period", PERIODS), name="period"),
        CheckConstraint("value_count >= 0 AND bad_count >= 0 AND value_count + bad_count > 0", name="counts"),
        CheckConstraint(
            "(value_count = 0) = (minimum IS NULL) AND (minimum IS NULL) = (maximum IS NULL) "
            "AND (minimum IS NULL) = (total IS NULL) AND (minimum IS NULL OR minimum <= maximum)",
            name="envelope",
        ),
        CheckConstraint("first_source_time <= last_source_time", name="times"),
        UniqueConstraint("tag_id", "period", "bucket", name="uq_monitoring_rollups_bucket"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("monitoring_tags.id"), nullable=False)
    period: Mapped[str] = mapped_column(String(2), nullable=False)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # the bucket's start, UTC
    value_count: Mapped[int] = mapped_column(Integer, nullable=False)  # usable values: good or uncertain
    bad_count: Mapped[int] = mapped_column(Integer, nullable=False)  # quality bad, or no value
    minimum: Mapped[float | None] = mapped_column(Double(), nullable=True)
    maximum: Mapped[float | None] = mapped_column(Double(), nullable=True)
    total: Mapped[float | None] = mapped_column(
        Double(), nullable=True
    )  # sum: the mean is total / value_count
    first_source_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_source_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    @property
    def mean(self) -> float | None:
        return None if self.total is None or not self.value_count else self.total / self.value_count


class RollupMark(Base):
    """How far a source's raw values are merged into :class:`Rollup`: every ingest of the source up to
    ``ingest_id`` is, none after it is (ADR 0026). Written by the ingest's unit of work only (trigger); it only moves
    forward (trigger) and is never deleted. The ingest holds this row's lock while it stores its values, so the
    ingests of one source commit in the order of their ids."""

    __tablename__ = "monitoring_rollup_marks"

    source_id: Mapped[int] = mapped_column(ForeignKey("monitoring_sources.id"), primary_key=True)
    ingest_id: Mapped[int] = mapped_column(BigInteger, nullable=False)  # 0: nothing merged yet
    merged_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), nullable=True
    )  # server time of the merge
