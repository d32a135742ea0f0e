"""Shared steps of the monitoring tests: a source with tags made through the service, as the equipment engineer."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

from helpers import principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import historian, tags
from pharmatrace.monitoring.adapters import Binding
from pharmatrace.monitoring.historian import Reading, Stored
from pharmatrace.monitoring.schemas import SourceCreate, TagCreate
from pharmatrace.storage.engine import Database

ENGINEER = "wuhao"


def configure(db: Database, protocol: str, endpoint: str, bindings: Iterable[Binding]) -> str:
    """A new source of ``protocol`` with a tag per binding; returns the source's code."""
    who = principal(db, ENGINEER)
    code = f"T-{uuid.uuid4().hex[:8].upper()}"
    with UnitOfWork(db, who.actor) as uow:
        tags.create_source(uow, who, SourceCreate(code=code, name=f"test {protocol}", protocol=protocol,
                                                  endpoint=endpoint))  # type: ignore[arg-type]  # fmt: skip
        for b in bindings:
            tags.create_tag(uow, who, TagCreate(name=b.tag, source=code, address=b.address, data_type=b.data_type,  # type: ignore[arg-type]
                                                decimals=b.decimals, unit="", low_limit=Decimal("-100"),
                                                high_limit=Decimal("1000")))  # fmt: skip
        uow.commit()
    return code


def stored_of(db: Database, names: Iterable[str]) -> list[Stored]:
    from datetime import UTC, datetime

    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    with db.sessions() as session:
        return [v for name in sorted(set(names)) for v in historian.values(session, name, start, end)]


def assert_same(sent: Sequence[Reading], stored: Sequence[Stored]) -> None:
    """Every value sent is stored once, with the same value (type and digits), source time and quality."""
    assert len(stored) == len(sent), (len(stored), len(sent))
    key = {(r.tag, r.source_time): r for r in sent}
    assert len(key) == len(sent), "the simulator sent two values of a tag at one time"
    for value in stored:
        wire = key.pop((value.tag, value.source_time))
        assert type(value.value) is type(wire.value), (value, wire)
        assert value.value == wire.value, (value, wire)
        if isinstance(wire.value, Decimal):
            assert value.text == format(wire.value, "f")  # 21.50 stays 21.50
        assert value.quality == wire.quality, (value, wire)
        if wire.status_code is not None:
            assert value.status_code == wire.status_code
    assert not key
