"""Clock management: the server's time checked against a real NTP server, recorded, alarmed on.

The NTP server is real: a thread answering NTP client packets on loopback UDP, with a configurable skew.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from helpers import actor, audit_entries, count_rows, token
from pharmatrace.cli import app as cli_app
from pharmatrace.config import get_settings
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.clock_models import ClockCheck
from pharmatrace.kernel.clock_monitor import check_clock, load_settings, set_clock_settings
from pharmatrace.kernel.clock_schemas import ClockSettingsPublic, ClockSettingsUpdate
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

NTP_EPOCH = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
TIMEOUT = 0.5  # seconds; every test stays fast


def _ntp_timestamp(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("!II", whole + NTP_EPOCH, int((seconds - whole) * 2**32))


class NtpResponder:
    """An NTP server (stratum 1) on 127.0.0.1 whose clock runs ``skew`` seconds off the local clock."""

    def __init__(self, skew: float = 0.0) -> None:
        self.skew = skew
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                packet, peer = self.sock.recvfrom(512)
            except TimeoutError:
                continue
            received = time.time() + self.skew
            version, mode = (packet[0] >> 3) & 7, packet[0] & 7
            if len(packet) < 48 or mode != 3 or version not in (3, 4):
                continue
            header = struct.pack("!BBbbII4s", (version << 3) | 4, 1, 6, -20, 0, 0, b"GPS\0")
            reply = (
                header
                + _ntp_timestamp(received - 1)  # reference: last set a second ago
                + packet[40:48]  # originate = the client's transmit timestamp
                + _ntp_timestamp(received)
                + _ntp_timestamp(time.time() + self.skew)
            )
            self.sock.sendto(reply, peer)
            self.answered += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def ntp_server() -> Iterator[Callable[[float], str]]:
    """``ntp_server(skew_seconds)`` starts a responder and returns its ``host:port``."""
    started: list[NtpResponder] = []

    def start(skew: float = 0.0) -> str:
        started.append(NtpResponder(skew))
        return started[-1].address

    yield start
    for responder in started:
        responder.stop()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A bound UDP port that never answers: a time server that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _settings(*servers: str, threshold_ms: int = 1000, interval: int = 300) -> ClockSettingsPublic:
    return ClockSettingsPublic(
        servers=list(servers), alarm_threshold_ms=threshold_ms, check_interval_seconds=interval
    )


def _configure(db: Database, *servers: str, interval: int = 300) -> None:
    """The system administrator points the monitor at ``servers``."""
    update = ClockSettingsUpdate(
        servers=list(servers),
        alarm_threshold_ms=1000,
        check_interval_seconds=interval,
        reason="测试时间服务器",
    )
    with UnitOfWork(db, actor(db, "sysadmin")) as uow:
        set_clock_settings(uow, update)
        uow.commit()


def _login(client: TestClient, login: str) -> TestClient:
    response = client.post("/login", data={"login": login, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return client


# --- the monitor -----------------------------------------------------------------------------------


@pytest.mark.clause("SH-7.1.5.a")
def test_an_offset_within_the_threshold_is_recorded_as_ok_without_alarm(
    db: Database, ntp_server: Callable[[float], str]
) -> None:
    server = ntp_server(0.0)
    [check] = check_clock(db, _settings(server), timeout=TIMEOUT)
    assert (check.server, check.status, check.stratum, check.error) == (server, "ok", 1, None)
    assert check.offset_ms is not None and abs(check.offset_ms) < 100
    assert check.delay_ms is not None and check.delay_ms >= 0
    assert check.checked_at.tzinfo is not None
    assert count_rows(db, ClockCheck) == 1
    assert audit_entries(db, event="clock.alarm") == []


@pytest.mark.clause("SH-7.1.5.a")
def test_a_time_server_five_seconds_ahead_raises_a_clock_alarm(
    db: Database, ntp_server: Callable[[float], str]
) -> None:
    [check] = check_clock(db, _settings(ntp_server(5.0)), timeout=TIMEOUT)
    assert check.status == "alarm"
    assert check.offset_ms is not None and 4900 < check.offset_ms < 5100
    [alarm] = audit_entries(db, event="clock.alarm")
    assert (alarm.object_type, alarm.object_id) == ("clock_check", str(check.id))
    assert alarm.actor_login == "system:clock-monitor"
    assert alarm.reason is not None and "exceeds the alarm threshold of 1000 ms" in alarm.reason
    assert alarm.changes["offset_ms"] == [None, check.offset_ms]


@pytest.mark.clause("SH-7.1.5.a")
def test_a_silent_time_server_is_recorded_unreachable_and_raises_an_alarm(
    db: Database, ntp_server: Callable[[float], str], silent_server: str
) -> None:
    good = ntp_server(0.0)
    started = time.monotonic()
    down, up = check_clock(db, _settings(silent_server, good), timeout=TIMEOUT)
    assert time.monotonic() - started < 2 * TIMEOUT + 1
    assert (down.server, down.status, down.offset_ms, down.stratum) == (
        silent_server,
        "unreachable",
        None,
        None,
    )
    assert down.error is not None and "No response received" in down.error
    assert up.status == "ok"  # the other server still answers
    [alarm] = audit_entries(db, event="clock.alarm")
    assert alarm.object_id == str(down.id)
    assert alarm.reason is not None and alarm.reason.startswith("time server unreachable")


@pytest.mark.clause("SH-7.1.5.a", "TJ-10.1.1.2.d")
def test_a_clock_that_moved_backwards_is_flagged(db: Database, ntp_server: Callable[[float], str]) -> None:
    # The last recorded check is an hour later than the server's clock now: the clock was set back.
    ahead = clock.now() + timedelta(hours=1)
    with db.sessions() as session:
        session.add(ClockCheck(checked_at=ahead, server="earlier", offset_ms=0.0, status="ok"))
        session.commit()
    [check] = check_clock(db, _settings(ntp_server(0.0)), timeout=TIMEOUT)
    assert check.status == "alarm"
    assert check.offset_ms is not None and abs(check.offset_ms) < 100  # the offset itself is fine
    assert check.error == "clock moved backwards"
    [alarm] = audit_entries(db, event="clock.alarm")
    assert alarm.reason == "clock moved backwards"
    old, new = alarm.changes["checked_at"]
    assert datetime.fromisoformat(new) < datetime.fromisoformat(old) == ahead


@pytest.mark.clause("SH-8.4.5", "TJ-10.1.6.1")
@pytest.mark.parametrize("statement", ["UPDATE clock_checks SET offset_ms = 0", "DELETE FROM clock_checks"])
def test_recorded_clock_checks_cannot_be_changed_or_deleted(
    db: Database, ntp_server: Callable[[float], str], statement: str
) -> None:
    check_clock(db, _settings(ntp_server(5.0)), timeout=TIMEOUT)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM clock_checks WHERE offset_ms > 4000")) == 1


@pytest.mark.clause("SH-7.1.5.a")
def test_the_web_app_runs_the_monitor_in_the_background_only_when_asked(
    db: Database, ntp_server: Callable[[float], str]
) -> None:
    _configure(db, ntp_server(0.0))
    with TestClient(create_app(db)):
        time.sleep(0.2)
    assert count_rows(db, ClockCheck) == 0
    with TestClient(create_app(db, clock_monitor=True)):
        deadline = time.monotonic() + 5
        while count_rows(db, ClockCheck) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert count_rows(db, ClockCheck) == 1  # the next round waits for the interval


# --- the time settings -----------------------------------------------------------------------------


@pytest.mark.clause("SH-7.1.5", "TJ-10.1.3.3.b")
def test_the_national_time_service_is_the_default_time_server(db: Database) -> None:
    settings = load_settings(db)
    assert (settings.servers, settings.alarm_threshold_ms, settings.check_interval_seconds) == (
        ["ntp.ntsc.ac.cn"],
        1000,
        300,
    )


@pytest.mark.clause("TJ-10.1.1.2.d")
def test_business_users_cannot_change_the_time_settings(db: Database) -> None:
    body = {"servers": ["127.0.0.1:1"], "alarm_threshold_ms": 1, "check_interval_seconds": 10, "reason": "x"}
    with TestClient(create_app(db)) as client:
        for login in ("zhangwei", "chenjing", "inspector"):
            refused = client.put("/api/v1/clock/settings", json=body, headers=token(client, login))
            assert refused.status_code == 403, login
        _login(client, "chenjing")  # QA may look at the clock…
        assert client.get("/admin/clock").status_code == 200
        page = client.post("/admin/clock/settings", data={**body, "servers": "127.0.0.1:1"})
        assert page.status_code == 403  # …but not set it
        assert client.post("/admin/clock/check").status_code == 403
    assert load_settings(db).servers == ["ntp.ntsc.ac.cn"]
    assert audit_entries(db, object_type="setting", object_id="clock.ntp") == []


@pytest.mark.clause("TJ-10.1.1.2.d", "TJ-10.1.1.2.b", "TJ-10.1.1.2.c", "TJ-10.1.1.1")
def test_the_system_administrator_changes_the_time_settings_with_an_audited_reason(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        _login(client, "sysadmin")
        no_reason = client.post(
            "/admin/clock/settings",
            data={"servers": "ntp.example.cn", "alarm_threshold_ms": "500", "check_interval_seconds": "60"},
        )
        assert no_reason.status_code == 422
        saved = client.post(
            "/admin/clock/settings",
            data={
                "servers": "ntp.ntsc.ac.cn, 10.0.0.5:1123",
                "alarm_threshold_ms": "500",
                "check_interval_seconds": "60",
                "reason": "增加厂区时间服务器",
            },
        )
        assert saved.status_code == 200 and "已保存" in saved.text
    settings = load_settings(db)
    assert (settings.servers, settings.alarm_threshold_ms, settings.check_interval_seconds) == (
        ["ntp.ntsc.ac.cn", "10.0.0.5:1123"],
        500,
        60,
    )
    [entry] = audit_entries(db, object_type="setting", object_id="clock.ntp")
    assert (entry.event, entry.actor_login, entry.reason) == ("create", "sysadmin", "增加厂区时间服务器")
    assert entry.changes["value"][1]["servers"] == ["ntp.ntsc.ac.cn", "10.0.0.5:1123"]


@pytest.mark.clause("TJ-10.1.1.2.d", "TJ-10.1.1.2.b", "TJ-10.1.1.2.c")
def test_the_api_changes_the_time_settings_only_with_a_reason_and_valid_servers(db: Database) -> None:
    body = {"servers": ["127.0.0.1:1123"], "alarm_threshold_ms": 200, "check_interval_seconds": 30}
    with TestClient(create_app(db)) as client:
        admin = token(client, "sysadmin")
        assert client.put("/api/v1/clock/settings", json=body, headers=admin).status_code == 422
        for bad in ({"servers": []}, {"servers": ["no spaces please"]}, {"servers": ["host:70000"]}):
            response = client.put(
                "/api/v1/clock/settings", json={**body, **bad, "reason": "x1"}, headers=admin
            )
            assert response.status_code == 422, bad
        ok = client.put("/api/v1/clock/settings", json={**body, "reason": "更换时间服务器"}, headers=admin)
        assert ok.status_code == 200, ok.text
        assert ok.json()["servers"] == ["127.0.0.1:1123"]
        changed = client.put(
            "/api/v1/clock/settings",
            json={**body, "alarm_threshold_ms": 300, "reason": "收紧阈值"},
            headers=admin,
        )
        assert changed.status_code == 200
    first, second = audit_entries(db, object_type="setting", object_id="clock.ntp")
    assert (first.event, second.event) == ("create", "update")
    assert second.reason == "收紧阈值"
    old, new = second.changes["value"]
    assert (old["alarm_threshold_ms"], new["alarm_threshold_ms"]) == (200, 300)


# --- the status page, the API and the command line ------------------------------------------------


@pytest.mark.clause("SH-7.1.5")
def test_the_status_page_shows_beijing_and_utc_time_the_latest_checks_and_the_alarm(
    db: Database, ntp_server: Callable[[float], str]
) -> None:
    skewed = ntp_server(5.0)
    check_clock(db, _settings(skewed), timeout=TIMEOUT)
    _configure(db, skewed)
    with TestClient(create_app(db)) as client:
        page = _login(client, "inspector").get("/admin/clock")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="clock-alarm"' in html and skewed in html
    assert 'data-status="alarm"' in html
    assert 'data-testid="check-now"' not in html and 'data-testid="clock-settings"' not in html  # read only
    beijing = re.search(r'data-testid="time-beijing">([^<]+)<', html)
    utc = re.search(r'data-testid="time-utc">([^<]+) UTC<', html)
    assert beijing and utc
    shown = [datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S") for m in (beijing, utc)]
    assert shown[0] - shown[1] == timedelta(hours=8)


@pytest.mark.clause("SH-7.1.5.a")
def test_the_administrator_checks_the_clock_now_from_the_page(
    db: Database, ntp_server: Callable[[float], str]
) -> None:
    _configure(db, ntp_server(0.0))
    with TestClient(create_app(db)) as client:
        page = _login(client, "sysadmin").get("/admin/clock")
        assert 'data-testid="check-now"' in page.text and 'data-testid="clock-settings"' in page.text
        assert 'data-testid="clock-stale"' in page.text  # never checked yet
        checked = client.post("/admin/clock/check")
    assert checked.status_code == 200
    assert 'data-testid="clock-latest"' in checked.text and 'data-testid="clock-alarm"' not in checked.text
    assert count_rows(db, ClockCheck) == 1


@pytest.mark.clause("SH-7.1.5.a")
def test_the_api_reports_the_clock_status(db: Database, ntp_server: Callable[[float], str]) -> None:
    good, skewed = ntp_server(0.0), ntp_server(-3.0)
    _configure(db, good, skewed)
    check_clock(db, timeout=TIMEOUT)
    with TestClient(create_app(db)) as client:
        response = client.get("/api/v1/clock", headers=token(client, "chenjing"))
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["alarm"] is True and status["stale"] is False
    assert status["settings"]["servers"] == [good, skewed]
    assert [(c["server"], c["status"]) for c in status["latest"]] == [(good, "ok"), (skewed, "alarm")]
    assert status["latest"][1]["offset_ms"] < -2900
    assert len(status["recent"]) == 2
    assert status["server_time_beijing"] == clock.format_beijing(
        datetime.fromisoformat(status["server_time"])
    )


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.clause("SH-7.1.5.a")
def test_the_clock_check_command_exits_1_on_an_alarm(
    db: Database, cli: CliRunner, ntp_server: Callable[[float], str]
) -> None:
    good = ntp_server(0.0)
    _configure(db, good)
    result = cli.invoke(cli_app, ["clock", "check", "--timeout", str(TIMEOUT)])
    assert result.exit_code == 0, result.output
    assert good in result.output and "OK" in result.output

    skewed = ntp_server(5.0)
    _configure(db, good, skewed)
    result = cli.invoke(cli_app, ["clock", "check", "--timeout", str(TIMEOUT)])
    assert result.exit_code == 1, result.output
    assert re.search(re.escape(skewed) + r"\s+offset\s+\+(4[89]|50)\d\d\.\d{3} ms.*ALARM", result.output)

    status = cli.invoke(cli_app, ["clock", "status"])
    assert status.exit_code == 0, status.output
    assert "Beijing time" in status.output and "ALARM" in status.output and skewed in status.output
