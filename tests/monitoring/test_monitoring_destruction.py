"""Destruction of historian raw values past their retention (TJ-10.1.6.3 a–c, TJ-10.1.6.2, SH-8.4.3; ADR 0029).

The SOP: the equipment engineer applies for the destruction of a month's values of one retention class, QA approves
it with a signature (never the applicant), IT takes an archive copy of the month and executes the destruction on
the server against it. The month's values of that class are gone, the rest stays, the trail says who did what, and
``ledger verify`` stays clean — while any other delete is refused, and one made behind the application's back is
still named.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from helpers import (
    LOGIN_BY_ROLE,
    as_application_role,
    audit_entries,
    behind_the_apps_back,
    log_in,
    principal,
    token,
    unguarded,
)
from pharmatrace.cli import app
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock, crypto
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.errors import Conflict, NotPermitted, SegregationOfDuties, ValidationFailed
from pharmatrace.kernel.esign import service as esign_service
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import alarms, archive, destruction, historian, partitions, tags
from pharmatrace.monitoring.alarm_schemas import RuleCreate
from pharmatrace.monitoring.cli import monitoring_app
from pharmatrace.monitoring.destruction_models import DestroyedIngest, HistorianDestruction
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import HistorianValue
from pharmatrace.monitoring.rollup_models import Rollup
from pharmatrace.monitoring.schemas import SourceCreate, TagCreate
from pharmatrace.storage.engine import Database

ENGINEER, QA = "wuhao", LOGIN_BY_ROLE["qa_reviewer"]
INFO, GMP = "RM-FILL.ds_counter", "RM-FILL.ds_temperature"
MARCH, APRIL = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
IT = Actor.system("cli:it-admin")


def _plant(db: Database) -> str:
    """A source with an information tag (1 year online) and a GMP tag (6 years), made by the engineer."""
    who = principal(db, ENGINEER)
    code = f"T-{uuid.uuid4().hex[:8].upper()}"
    with UnitOfWork(db, who.actor) as uow:
        tags.create_source(uow, who, SourceCreate(code=code, name="destruction", protocol="mqtt",
                                                  endpoint="mqtt://127.0.0.1:1883"))  # fmt: skip
        for name, kept in ((INFO, "information"), (GMP, "gmp")):
            tags.create_tag(uow, who, TagCreate(name=name, source=code, address=f"x/{name}", data_type="decimal",
                                                decimals=2, retention_class=kept))  # type: ignore[arg-type]  # fmt: skip
        uow.commit()
    return code


def _ingest(db: Database, source: str, readings: list[Reading]) -> int:
    result = historian.ingest(db, source, readings)
    assert result is not None and result.stored == len(readings)
    return result.ingest_id


def _request(db: Database, who: Principal, month: datetime = MARCH, kept: str = "information") -> str:
    with UnitOfWork(db, who.actor) as uow:
        record = destruction.request(uow, who, month, kept, "past its one-year retention, archived")
        uow.commit()
        return record.number


def _approve(db: Database, who: Principal, number: str) -> None:
    with UnitOfWork(db, who.actor) as uow:
        destruction.approve(uow, who, number, password=DEMO_PASSWORD, login=who.login)
        uow.commit()


def _values(db: Database, name: str, start: datetime, end: datetime) -> list[str | None]:
    with db.sessions() as session:
        return [v.text for v in historian.values(session, name, start, end)]


def _record(db: Database, number: str) -> HistorianDestruction:
    with db.sessions() as session:
        return destruction.get(session, number)


def _verify(cli: CliRunner) -> tuple[int, set[str]]:
    """``ledger verify``: its exit code and the subjects of its mismatches."""
    result = cli.invoke(app, ["ledger", "verify", "--json"])
    report = json.loads(result.output)
    return result.exit_code, {p["subject"] for p in report["problems"]}


def _foreign(manifest: Path, into: Path) -> Path:
    """The same copy, its manifest signed by another site's key (self-consistent, so ``check`` alone passes)."""
    into.mkdir()
    body = json.loads(manifest.read_text())
    body.pop("signature")
    keys = crypto.KeyPair.generate()
    body |= {"site_key": crypto.public_key_pem(keys.public_key),
             "site_key_fingerprint": crypto.fingerprint(keys.public_key)}  # fmt: skip
    signed = crypto.sign(keys.private_key, json.dumps(body, ensure_ascii=False, sort_keys=True,
                                                      separators=(",", ":")).encode())  # fmt: skip
    (into / manifest.name).write_text(json.dumps({**body, "signature": signed.hex()}))
    data = manifest.parent / body["file"]
    (into / data.name).write_bytes(data.read_bytes())
    assert archive.check(into / manifest.name) == []
    return into / manifest.name


@pytest.mark.both  # the DELETE guard is a trigger of each dialect; times are stored differently
@pytest.mark.clause("TJ-10.1.6.3.a", "TJ-10.1.6.3.b", "TJ-10.1.6.3.c", "TJ-10.1.6.2", "SH-8.4.3")
def test_a_month_past_its_retention_is_destroyed_on_an_approved_request_against_a_verified_archive_copy(
    db: Database, cli: CliRunner, tmp_path: Path
) -> None:
    source = _plant(db)
    mixed = _ingest(db, source, [  # one ingest, both classes, all in March 2024
        *(Reading(INFO, MARCH + timedelta(days=d, hours=6), Decimal(f"1{d}.25")) for d in range(3)),
        *(Reading(GMP, MARCH + timedelta(days=d, hours=6), Decimal(f"2{d}.50")) for d in range(2))])  # fmt: skip
    straddling = _ingest(db, source, [  # the last second of March and the first of April
        Reading(INFO, APRIL - timedelta(seconds=1), Decimal("19.00")), Reading(INFO, APRIL + timedelta(seconds=1),
                                                                              Decimal("19.50"))])  # fmt: skip
    april = _ingest(db, source, [Reading(INFO, APRIL + timedelta(days=3), Decimal("30.00"))])
    engineer, qa = principal(db, ENGINEER), principal(db, QA)

    # TJ-10.1.6.3.b: only a month that has ended, and only once its class's retention has passed; one at a time
    for month, kept, refusal in [(MARCH, "gmp", "kept until 2030-04-01"),
                                 (partitions.month_of(clock.now()), "information", "has not ended"),
                                 (datetime(2023, 1, 1, tzinfo=UTC), "information", "No raw values")]:  # fmt: skip
        with pytest.raises(ValidationFailed, match=refusal):
            _request(db, engineer, month, kept)
    with pytest.raises(NotPermitted):  # QA does not apply: it approves
        _request(db, qa)
    number = _request(db, engineer)
    assert number.startswith("DS-") and _record(db, number).status == "requested"
    with pytest.raises(Conflict, match="already covers"):
        _request(db, engineer)

    # TJ-10.1.6.3.a: approval by QA with a signature — not by the applicant, not by someone without the right
    with pytest.raises(NotPermitted):
        _approve(db, engineer, number)
    both = dataclasses.replace(qa, permissions=qa.permissions | {destruction.REQUEST_PERMISSION})
    own = _request(db, both, datetime(2024, 4, 1, tzinfo=UTC))
    with pytest.raises(SegregationOfDuties, match="may not approve"):
        _approve(db, both, own)
    copies = tmp_path / "copies"
    march = archive.export_month(db, MARCH, copies / "march", IT)
    with pytest.raises(Conflict, match="only an approved destruction"):  # unapproved: not executed
        destruction.execute(db, number, march.manifest, IT)
    _approve(db, qa, number)
    approved = _record(db, number)
    assert (approved.status, approved.approved_by) == ("approved", QA)

    # TJ-10.1.6.2: a verified copy of exactly this month's values, made by this site, or nothing happens
    april_copy = archive.export_month(db, APRIL, copies / "april", IT)
    tampered = copies / "tampered"
    tampered.mkdir()
    for f in (march.data, march.manifest):
        (tampered / f.name).write_bytes(f.read_bytes())
    (tampered / march.manifest.name).write_text(
        march.manifest.read_text().replace('"values": ', '"values": 1', 1)
    )
    for manifest, refusal in [
        (april_copy.manifest, "is of 2024-04, not of 2024-03"),
        (tampered / march.manifest.name, "does not pass its check"),
        (_foreign(march.manifest, copies / "foreign"), "not signed with this site's key"),
        (copies / "missing.manifest.json", "does not pass its check"),
    ]:
        with pytest.raises(ValidationFailed, match=refusal):
            destruction.execute(db, number, manifest, IT)
    late = _ingest(
        db, source, [Reading(INFO, MARCH + timedelta(days=20), Decimal("15.75"))]
    )  # a late back-fill
    with pytest.raises(ValidationFailed, match=f"ingest {late} differs"):  # the copy no longer holds them all
        destruction.execute(db, number, march.manifest, IT)
    assert _record(db, number).status == "approved" and len(_values(db, INFO, MARCH, APRIL)) == 5
    refused = audit_entries(db, event="monitoring.destruction.refused", object_id=str(approved.id))
    assert len(refused) == 6 and refused[-1].actor_login == "system:cli:it-admin"

    # TJ-10.1.6.3.c: executed on the server by IT, the CLI way, against a fresh copy
    fresh = archive.export_month(db, MARCH, copies / "fresh", IT)
    ran = CliRunner().invoke(monitoring_app, ["destroy", number, "--manifest", str(fresh.manifest)])
    assert ran.exit_code == 0, ran.output
    assert (
        f"{number}: 5 raw values of 2024-03 (information) destroyed from 3 ingests by rows_deleted"
        in ran.output
    )
    done = _record(db, number)
    assert (done.status, done.method, done.values_destroyed, done.values_kept, done.values_in_copy,
            done.ingests_affected) == ("executed", "rows_deleted", 5, 0, 7, 3)  # fmt: skip
    assert done.manifest_sm3 == archive.file_sm3(fresh.manifest) and done.archive_file_sm3 == fresh.data_sm3
    assert (
        done.executed_by == f"system:cli:{getpass.getuser()}"
    )  # the server's account, as for archive copies
    assert (
        _values(db, INFO, MARCH, APRIL - timedelta(microseconds=1)) == []
    )  # March's information values: gone
    assert _values(db, GMP, MARCH, APRIL) == ["20.50", "21.50"]  # the GMP tag's stay (6 years)
    assert _values(db, INFO, APRIL, APRIL + timedelta(days=30)) == ["19.50", "30.00"]  # April's stay
    event = audit_entries(db, event="monitoring.destruction", object_id=str(done.id))
    assert len(event) == 1 and event[0].changes["values_destroyed"] == [None, 5]
    states = [e.changes.get("status") for e in audit_entries(db, object_type="monitoring_destruction",
                                                              object_id=str(done.id)) if "status" in e.changes]  # fmt: skip
    assert states == [[None, "requested"], ["requested", "approved"], ["approved", "executing"],
                      ["executing", "executed"]]  # fmt: skip
    with db.sessions() as session:
        taken = {r.ingest_id: (r.destroyed, r.kept) for r in session.scalars(select(DestroyedIngest))}
        assert taken == {mixed: (3, 2), straddling: (1, 1), late: (1, 0)}
        assert all(historian.verify_ingest(session, i) for i in (mixed, straddling, april, late))
        tag = tags.get_tag(session, INFO)  # the roll-ups stay: the month's trend still has its hours
        hours = session.scalars(select(Rollup.value_count).where(Rollup.tag_id == tag.id, Rollup.period == "1h",
                                                                 Rollup.bucket >= MARCH, Rollup.bucket < APRIL))  # fmt: skip
        assert list(hours) == [1, 1, 1, 1, 1]
    assert archive.check(fresh.manifest) == []  # the copy still verifies against the ingests' SM3s

    with db.sessions() as session:  # the approval, signed on its decision, stays valid on the executed record
        record = destruction.get(session, number)
        signed = destruction.approval_signatures(session, record)
        assert [(s.signer_login, s.meaning, s.status) for s in signed] == [(QA, "approved", "valid")]
        assert [d.content_sm3 for d in record.decisions] == [destruction.application_sm3(record)]
    with pytest.raises(Conflict, match="only an approved destruction"):  # executed twice: refused
        destruction.execute(db, number, fresh.manifest, IT)
    assert _verify(cli) == (0, set())  # nothing lawfully destroyed is reported missing

    # any other DELETE is still refused — even with the unit-of-work marker forged
    for sql in ("DELETE FROM monitoring_values WHERE ingest_id = :m",
                "DELETE FROM monitoring_destructions", "DELETE FROM monitoring_destroyed_ingests"):  # fmt: skip
        with pytest.raises(DBAPIError, match="refused"), behind_the_apps_back(db) as conn:
            conn.execute(text(sql), {"m": mixed})

    # a value deleted behind the application's back — in the destroyed month (the GMP one) or after it — is named
    with behind_the_apps_back(db) as conn:
        unguarded(conn, "monitoring_values")
        for ingest in (mixed, april):
            conn.execute(text("DELETE FROM monitoring_values WHERE id = (SELECT max(id) FROM monitoring_values "
                              "WHERE ingest_id = :i)"), {"i": ingest})  # fmt: skip
    code, subjects = _verify(cli)
    assert code == 1 and subjects == {f"monitoring_ingest:{mixed}", f"monitoring_ingest:{april}"}


@pytest.mark.clause("TJ-10.1.6.3.a", "TJ-10.1.6.3.c", "SH-8.4.3", "SH-7.1.4.d")
def test_the_api_requests_approves_and_lists_destructions_and_says_what_the_values_range_lost(
    db: Database, client: TestClient, tmp_path: Path
) -> None:
    source = _plant(db)
    who = principal(db, ENGINEER)
    with UnitOfWork(db, who.actor) as uow:  # a value that raises an alarm stays with its alarm record
        alarms.create_rule(
            uow, who, RuleCreate.model_validate({"tag": INFO, "name": "HI", "alert_high": "50"})
        )
        uow.commit()
    _ingest(db, source, [Reading(INFO, MARCH + timedelta(days=2), Decimal("11.00")),
                         Reading(INFO, MARCH + timedelta(days=2, hours=1), Decimal("60.00"))])  # fmt: skip
    engineer, qa = (token(client, login) for login in (ENGINEER, QA))
    body = {"month": "2024-03", "retention_class": "information", "reason": "past retention"}
    assert client.post("/api/v1/monitoring/destructions", json=body, headers=qa).status_code == 403
    made = client.post("/api/v1/monitoring/destructions", json=body, headers=engineer)
    assert made.status_code == 201, made.text
    number = made.json()["number"]
    assert made.json()["kept_until"].startswith("2025-04-01")
    sign = {"password": DEMO_PASSWORD, "login": ENGINEER}
    assert (
        client.post(
            f"/api/v1/monitoring/destructions/{number}/approve", json=sign, headers=engineer
        ).status_code
        == 403
    )
    sign = {"password": "wrong", "login": QA}
    assert (
        client.post(f"/api/v1/monitoring/destructions/{number}/approve", json=sign, headers=qa).status_code
        == 401
    )
    sign = {"password": DEMO_PASSWORD, "login": QA, "comment": "archive copy kept 10 years"}
    approved = client.post(f"/api/v1/monitoring/destructions/{number}/approve", json=sign, headers=qa)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approved_by"]) == ("approved", QA)
    listed = client.get("/api/v1/monitoring/destructions", headers=engineer).json()
    assert [d["number"] for d in listed] == [number]
    log_in(client, QA, language="en")
    page = client.get("/monitoring/destructions")
    assert (
        page.status_code == 200 and number in page.text and 'data-testid="retention-information"' in page.text
    )

    manifest = archive.export_month(db, MARCH, tmp_path, IT).manifest
    done = destruction.execute(db, number, manifest, IT)
    assert (done.values_destroyed, done.values_kept) == (1, 1)
    read = client.get(f"/api/v1/monitoring/tags/{INFO}/values", headers=engineer,
                      params={"start": "2024-03-01T00:00:00+00:00", "end": "2024-03-20T00:00:00+00:00"})  # fmt: skip
    assert [v["value"] for v in read.json()] == ["60.00"]  # only the alarm's value
    assert read.headers["X-PharmaTrace-Destroyed"] == f"{number} (2024-03)"
    other = client.get(f"/api/v1/monitoring/tags/{GMP}/values", headers=engineer,
                       params={"start": "2024-03-01T00:00:00+00:00", "end": "2024-03-20T00:00:00+00:00"})  # fmt: skip
    assert "X-PharmaTrace-Destroyed" not in other.headers
    cancelled = client.post(f"/api/v1/monitoring/destructions/{number}/cancel", json={"reason": "too late"},
                            headers=qa)  # fmt: skip
    assert cancelled.status_code == 409
    tag_page = client.get(f"/monitoring/tags/{INFO}")
    assert f'data-testid="destroyed-{number}"' in tag_page.text
    log_in(client, QA, language="en")  # the executed destruction's page: the approval's manifestation, valid
    shown = client.get("/monitoring/destructions").text
    assert shown.count('data-testid="approval-signature"') == 1
    signed = shown[shown.index('data-testid="approval-signature"') :].split("</div>")[0]
    assert "Approved" in signed and principal(db, QA).full_name in signed and ">valid<" in signed
    assert "record changed after signing" not in shown


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.clause("TJ-10.1.6.3.b", "TJ-10.1.6.3.c", "SH-8.4.3")
def test_on_postgresql_a_month_with_its_own_partition_is_dropped_and_only_the_tables_owner_destroys(
    db: Database, cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _plant(db)
    month = partitions.next_month(partitions.horizon(clock.now()))  # a month of its own, beyond today's
    with db.engine.begin() as conn:
        partitions.ensure_on(conn, since=month, through=month)
    ingest = _ingest(
        db, source, [Reading(INFO, month + timedelta(days=d), Decimal("1.00")) for d in range(3)]
    )
    later = partitions.next_month(month).replace(year=month.year + 2)
    monkeypatch.setattr(clock, "now", lambda: later)  # two years on: past the information class's year
    engineer, qa = principal(db, ENGINEER), principal(db, QA)
    number = _request(db, engineer, month)
    _approve(db, qa, number)
    manifest = archive.export_month(db, month, tmp_path, IT).manifest

    with as_application_role(db) as app_db, pytest.raises(NotPermitted, match="tables' owner"):
        destruction.execute(app_db, number, manifest, IT)
    assert _record(db, number).status == "approved" and len(_values(db, INFO, month, later)) == 3

    done = destruction.execute(db, number, manifest, IT)
    assert (done.method, done.values_destroyed) == ("partition_dropped", 3)
    with db.engine.connect() as conn:
        assert partitions.partition_name(month) not in partitions.partitions(conn)
        left = conn.execute(
            select(func.count()).select_from(HistorianValue).where(HistorianValue.ingest_id == ingest)
        )
        assert left.scalar_one() == 0
    assert _verify(cli) == (0, set())


@pytest.mark.clause("TJ-10.1.6.3.a", "SH-7.1.4.e")
def test_the_execution_needs_the_approval_of_the_application_as_it_stands_and_accepts_one_signed_before_0058(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approval signs a decision naming the application's SM3: an application changed after it no longer
    counts as approved. An approval signed on the destruction row itself (before migration 0058) still counts
    while it verifies."""
    source = _plant(db)
    february = datetime(2024, 2, 1, tzinfo=UTC)
    _ingest(db, source, [Reading(INFO, MARCH + timedelta(days=1), Decimal("1.25")),
                         Reading(INFO, february + timedelta(days=1), Decimal("0.75"))])  # fmt: skip
    engineer, qa = principal(db, ENGINEER), principal(db, QA)
    number = _request(db, engineer)
    _approve(db, qa, number)
    missing = tmp_path / "missing.manifest.json"
    with pytest.raises(ValidationFailed, match="does not pass its check"):  # approved: it gets to the copy
        destruction.execute(db, number, missing, IT)
    with UnitOfWork(
        db, engineer.actor, reason="the application's reason rewritten after the approval"
    ) as uow:
        destruction.get(uow.session, number).reason = "another month's reason"
        uow.commit()
    with pytest.raises(Conflict, match="carries no valid approval signature"):
        destruction.execute(db, number, missing, IT)
    with db.sessions() as session:  # the decision's own signature is intact: it names what was approved
        record = destruction.get(session, number)
        assert [s.status for s in destruction.approval_signatures(session, record)] == ["valid"]
        assert record.decisions[0].content_sm3 != destruction.application_sm3(record)

    # an approval signed the way it was before migration 0058: on the destruction row
    legacy = _request(db, engineer, february)
    with UnitOfWork(db, qa.actor, reason="approved before 0058") as uow:
        record = destruction.get(uow.session, legacy)
        record.status, record.approved_at, record.approved_by, record.approved_by_name = (
            "approved", clock.now(), qa.login, qa.full_name)  # fmt: skip
        uow.session.flush()
        action = esign_service.BY_CODE[destruction.APPROVE_ACTION]
        monkeypatch.setitem(
            esign_service.BY_CODE, action.code, dataclasses.replace(action, object_type=destruction.TYPE)
        )
        esign_service.sign_with_event(uow, qa, object_type=destruction.TYPE, object_id=str(record.id),
                                      action_code=action.code, password=DEMO_PASSWORD, login=qa.login)  # fmt: skip
        uow.commit()
    monkeypatch.undo()
    with db.sessions() as session:
        record = destruction.get(session, legacy)
        assert record.decisions == [] and destruction.approval_signed(session, record)
    with pytest.raises(ValidationFailed, match="does not pass its check"):
        destruction.execute(db, legacy, missing, IT)
