"""Clock management shapes: the time settings (``clock.ntp``), checks and the status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from pharmatrace.kernel.identity.schemas import Reason, Strict

DEFAULT_SERVERS = ("ntp.ntsc.ac.cn",)  # 国家授时中心, the national time service (SH-7.1.5)

# host[:port]; IPv6 addresses in brackets, e.g. "[2001:db8::1]:123".
ServerAddress = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        max_length=255,
        pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?$",
    ),
]


def split_server(address: str) -> tuple[str, int]:
    """``"host[:port]"`` → ``(host, port)``; the NTP port 123 when none is given."""
    host, port = address, "123"
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        port = rest[1:] or port
    elif ":" in address:
        host, _, port = address.rpartition(":")
    return host, int(port)


class ClockSettingsPublic(Strict):
    servers: list[ServerAddress] = Field(
        default_factory=lambda: list(DEFAULT_SERVERS), min_length=1, max_length=8
    )
    alarm_threshold_ms: int = Field(default=1000, ge=1, le=3_600_000)
    check_interval_seconds: int = Field(default=300, ge=10, le=86_400)

    @field_validator("servers")
    @classmethod
    def _valid_unique_servers(cls, servers: list[str]) -> list[str]:
        for server in servers:
            if not 1 <= split_server(server)[1] <= 65535:
                raise ValueError("port out of range")
        return list(dict.fromkeys(servers))


class ClockSettingsUpdate(ClockSettingsPublic):
    reason: Reason


class ClockCheckPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    checked_at: datetime
    server: str
    offset_ms: float | None
    delay_ms: float | None
    stratum: int | None
    status: str
    error: str | None


class ClockStatusPublic(BaseModel):
    server_time: datetime  # UTC
    server_time_beijing: str  # YYYY-MM-DD HH:MM:SS, UTC+8
    settings: ClockSettingsPublic
    alarm: bool  # a configured server's latest check is not ok
    stale: bool  # no check within two intervals
    latest: list[ClockCheckPublic]  # per configured server
    recent: list[ClockCheckPublic]  # newest first
