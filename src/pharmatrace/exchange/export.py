"""Export of the Appendix B data sets (TJ-B.1.3, TJ-B.1.5): one way out for every registered data set.

The reader needs ``exchange.export`` and the permission of the data set's source (its area's view
permission). Every export is itself an audit event (``dataset.export``: which data set, in which format,
how many records), written in the same unit of work that reads the records (TJ-10.1.1.2.b, SH-7.1.3.e),
as the audit-trail export records itself.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Literal

from pharmatrace.exchange.datasets import REGISTRY, SOURCES, DataSet, Value, load_all
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database

PERMISSION = "exchange.export"
EXPORT_EVENT = "dataset.export"
EXPORT_OBJECT_TYPE = "dataset"
Format = Literal["json", "csv"]
FORMATS: tuple[Format, ...] = ("json", "csv")


@dataclass(frozen=True, slots=True)
class DataSetInfo:
    clause: str
    title: str
    short_names: tuple[str, ...]
    exportable: bool  # False: exported elsewhere (the audit trail through its own filtered export)
    permission: str | None


@dataclass(frozen=True, slots=True)
class ExportFile:
    content: bytes
    media_type: str
    filename: str
    records: int


def catalogue() -> list[DataSetInfo]:
    """Every registered data set, in clause order."""
    return [
        DataSetInfo(clause, ds.title, ds.short_names, clause in SOURCES,
                    SOURCES[clause].permission if clause in SOURCES else None)
        for clause, ds in load_all().items()
    ]  # fmt: skip


def data_set(clause: str) -> DataSet:
    load_all()
    dataset = REGISTRY.get(clause.strip().upper())
    if dataset is None:
        raise NotFound(N_("No data set “{clause}”"), clause=clause)
    return dataset


def render_json(dataset: DataSet, records: list[dict[str, Value]], exported_at: str) -> bytes:
    document = {"dataset": dataset.clause, "title": dataset.title, "exported_at": exported_at,
                "records": records}  # fmt: skip
    return json.dumps(document, ensure_ascii=False, indent=1).encode()


def render_csv(dataset: DataSet, records: list[dict[str, Value]]) -> bytes:
    """UTF-8 with a byte-order mark (so Excel reads Chinese); the header row is the short names."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(dataset.short_names)
    for record in records:
        writer.writerow(["" if record[short] is None else record[short] for short in dataset.short_names])
    return ("\ufeff" + buffer.getvalue()).encode()


def export(db: Database, principal: Principal, clause: str, fmt: str = "json") -> ExportFile:
    """The records of data set ``clause`` as JSON or CSV; the export is audited in the same transaction."""
    principal.require(PERMISSION)  # who may not export learns nothing about the data sets
    if fmt not in FORMATS:
        raise ValidationFailed(N_("The export format must be “json” or “csv”"))
    dataset = data_set(clause)
    source = SOURCES.get(dataset.clause)
    if source is None:
        raise Conflict(
            N_("The data set {clause} is not exported here; the audit trail has its own export"),
            clause=dataset.clause,
        )
    principal.require(source.permission)
    with UnitOfWork(db, principal.actor) as uow:
        records = dataset.records(source.records(uow.session))
        stamp = clock.format_exchange(clock.now())
        if fmt == "json":
            content, media_type = render_json(dataset, records, stamp), "application/json"
        else:
            content, media_type = render_csv(dataset, records), "text/csv; charset=utf-8"
        uow.record(
            EXPORT_EVENT,
            EXPORT_OBJECT_TYPE,
            dataset.clause,
            changes={"format": [None, fmt], "records": [None, len(records)]},
        )
        uow.commit()
    return ExportFile(content, media_type, f"{dataset.clause}-{stamp}.{fmt}", len(records))
