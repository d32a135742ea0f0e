"""``pharmatrace wms``: materials, suppliers and lots from the command line, one lot by any scanned code,
and the code rule shown and changed by the administrator through the API's validation and service
(issue 5 items 3 and 10; TJ-6.3.1, TJ-B.2.2.1)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import LOGIN_BY_ROLE, audit_entries, principal
from pharmatrace.cli import app
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import codes
from pharmatrace.wms.models import CodeCounter, Container, Lot, Material, Supplier

KEEPER = LOGIN_BY_ROLE["warehouse_keeper"]
ADMIN = "sysadmin"


def run(cli: CliRunner, *args: str, password: str | None = None) -> tuple[int, str]:
    result = cli.invoke(app, ["wms", *args], input=None if password is None else f"{password}\n")
    return result.exit_code, result.output


def a_lot_with_containers(db: Database) -> Lot:
    with db.sessions() as session:
        lot = session.scalars(
            select(Lot).join(Container).where(Lot.voided_at.is_(None), Container.supplier_scan.like("(01)%"))
            .order_by(Lot.id).limit(1)
        ).first()  # fmt: skip
        assert lot is not None, "the demo plant has lots received from GS1 labels"
        return lot


@pytest.mark.clause("TJ-6.3.1")
def test_materials_and_suppliers_are_listed_by_kind_and_as_json(cli: CliRunner, db: Database) -> None:
    with db.sessions() as session:
        herbs = session.scalars(
            select(Material.code).where(Material.kind == "herb", Material.voided_at.is_(None))
        )
        herb_codes = sorted(herbs)
        supplier_codes = sorted(session.scalars(select(Supplier.code).where(Supplier.voided_at.is_(None))))
    code, output = run(cli, "materials", "--kind", "herb", "--json")
    assert code == 0, output
    listed = json.loads(output)
    assert sorted(m["code"] for m in listed) == herb_codes and {m["kind"] for m in listed} == {"herb"}
    code, output = run(cli, "materials")
    assert code == 0 and all(c in output for c in herb_codes)
    code, output = run(cli, "materials", "--kind", "gold")
    assert code == 2 and "unknown kind" in output
    code, output = run(cli, "suppliers")
    assert code == 0 and [line.split()[0] for line in output.splitlines()] == supplier_codes


@pytest.mark.clause("TJ-6.3.1", "TJ-6.4.1")
def test_lots_are_found_by_material_status_and_scanned_code(cli: CliRunner, db: Database) -> None:
    lot = a_lot_with_containers(db)
    code, output = run(cli, "lots", "--status", lot.status, "--json")
    assert code == 0, output
    listed = json.loads(output)
    assert lot.lot_number in {x["lot_number"] for x in listed} and {x["status"] for x in listed} == {
        lot.status
    }
    code, output = run(cli, "lots", "--material", lot.material.code)
    assert code == 0 and lot.lot_number in output
    container = lot.containers[0]
    code, output = run(cli, "lots", "--scan", container.code, "--json")
    assert code == 0 and [x["lot_number"] for x in json.loads(output)] == [lot.lot_number]


@pytest.mark.clause("TJ-6.3.1", "TJ-B.2.2.1")
def test_one_lot_by_container_code_lot_number_or_gs1_string_with_its_containers(
    cli: CliRunner, db: Database
) -> None:
    lot = a_lot_with_containers(db)
    container = lot.containers[0]
    assert container.supplier_scan is not None
    for scan in (container.code, lot.lot_number.lower(), container.supplier_scan):
        code, output = run(cli, "lot", scan, "--json")
        assert code == 0, output
        detail = json.loads(output)
        assert detail["lot_number"] == lot.lot_number, scan
        assert [c["code"] for c in detail["container_list"]] == [c.code for c in lot.containers]
    code, output = run(cli, "lot", container.code)
    assert code == 0 and f"lot              {lot.lot_number}" in output
    assert all(c.code in output for c in lot.containers)
    code, output = run(cli, "lot", "NOSUCHLOT-999")
    assert code == 2 and "no lot for the scan" in output


def counters(db: Database) -> list[tuple[str, int]]:
    with db.sessions() as session:
        return [
            (c.prefix, c.last_serial)
            for c in session.scalars(select(CodeCounter).order_by(CodeCounter.prefix))
        ]


@pytest.mark.clause("TJ-6.3.1", "TJ-B.2.2.1")
def test_code_rule_show_previews_the_next_lot_number_without_drawing_it(cli: CliRunner, db: Database) -> None:
    before = counters(db)
    code, output = run(cli, "code-rule", "show")
    assert code == 0, output
    assert "pattern        {type}{yy}{mm}{serial}" in output and "{serial}  the serial number" in output
    herb = next(line.split() for line in output.splitlines() if line.startswith("herb "))
    assert counters(db) == before  # nothing drawn
    with UnitOfWork(db, principal(db, KEEPER).actor) as uow:
        drawn = codes.next_lot_number(uow.session, "herb")
    assert herb == ["herb", "YC", drawn]


@pytest.mark.clause("TJ-6.3.1", "TJ-10.1.1.2.b", "TJ-10.1.2.2.c")
def test_the_administrator_changes_the_code_rule_with_a_reason_refusals_change_nothing(
    cli: CliRunner, db: Database
) -> None:
    def changes() -> int:
        return len(audit_entries(db, object_type="setting", object_id=codes.SETTINGS_KEY))

    before = changes()
    code, output = run(cli, "code-rule", "set", "--pattern", "{type}-{serial}", "--reason", "试", "--as", ADMIN,
                       "--password-stdin", password=DEMO_PASSWORD)  # fmt: skip
    assert code == 2 and "pattern" in output and "A–Z and 0–9" in output
    code, output = run(cli, "code-rule", "set", "--serial-digits", "6", "--reason", "SOP-WM-003 修订", "--as",
                       KEEPER, "--password-stdin", password=DEMO_PASSWORD)  # fmt: skip
    assert code == 2 and "cannot administer the system" in output  # segregation of duties
    code, output = run(cli, "code-rule", "set", "--serial-digits", "6", "--reason", "SOP-WM-003 修订", "--as",
                       ADMIN, "--password-stdin", password="Wrong#Password1")  # fmt: skip
    assert code == 2
    assert changes() == before
    code, output = run(cli, "code-rule", "set", "--serial-digits", "6", "--type-code", "extract=TJ", "--reason",
                       "SOP-WM-003 修订", "--as", ADMIN, "--password-stdin", password=DEMO_PASSWORD)  # fmt: skip
    assert code == 0, output
    assert "extract              TJ" in output
    change = audit_entries(db, object_type="setting", object_id=codes.SETTINGS_KEY)[-1]
    assert (change.actor_login, change.reason) == (ADMIN, "SOP-WM-003 修订")
    with db.sessions() as session:
        rule = codes.code_rule(session)
        assert (rule.serial_digits, rule.type_codes["extract"], rule.pattern) == (
            6,
            "TJ",
            codes.DEFAULT_PATTERN,
        )
