"""Process-wide settings, read from ``PHARMATRACE_*`` environment variables.

All local state (the SQLite file by default, stored files, keys, the ledger's witness) lives under one
directory, ``PHARMATRACE_VAR``, so two instances never share state by accident.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHARMATRACE_", extra="ignore")

    var: Path = Field(default=Path("var"), description="state directory")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite under var/")
    # Password hashing cost (argon2id). Tests lower the memory cost to stay fast; never below RFC 9106 floor.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8192)
    argon2_parallelism: int = Field(default=4, ge=1)
    cookie_secure: bool = False
    # `serve` runs the NTP clock monitor (SH-7.1.5); PHARMATRACE_CLOCK_MONITOR=false turns it off.
    clock_monitor: bool = True
    # `serve` runs the collector service (every active data source, SH-8.4.3) when this is on or `--collect` given;
    # PHARMATRACE_COLLECT=1 turns it on.
    collect: bool = False
    # How long a reading may wait for its batch, and a batch's size (each batch is one audited ingest): shorter
    # batches mean values stored sooner and more ingest records; alarms do not wait for them (priority below).
    collector_flush_seconds: float = Field(default=5.0, gt=0, le=60)
    collector_batch_size: int = Field(default=500, ge=1, le=50_000)
    # Batches that waited together in the journal (a back-fill) are stored as one ingest of up to this many
    # readings (ADR 0025 addendum); larger runs back-fill faster and hold SQLite's write lock longer.
    collector_forward_size: int = Field(default=20_000, ge=1, le=200_000)
    # A reading that may raise or clear an alarm sends its batch within this many seconds, whatever the flush
    # (ADR 0021 addendum: alarms do not wait for the default batching; a burst of excursions is one batch).
    collector_priority_seconds: float = Field(default=0.2, ge=0, le=60)
    # Ledger checkpoints (SH-8.4.5): signed every N entries or T seconds, whichever comes first.
    checkpoint_every: int = Field(default=1000, ge=1)
    checkpoint_seconds: int = Field(default=60, ge=1)
    # how often overdue deviation steps are escalated (TJ-6.4.4); also once when the web process starts
    escalation_seconds: int = Field(default=3600, ge=1)
    # The ledger's witness: by default a file under var/; a database URL puts it in a second database, an
    # http(s):// URL in a witness service on another host (`pharmatrace witness serve`).
    witness_url: str | None = None
    # Seconds a remote witness (an http(s):// witness_url) may take to answer before its checkpoint is kept
    # pending locally and sent again with the next one.
    witness_timeout: float = Field(default=5.0, gt=0)
    # The site's SM2 checkpoint key is kept encrypted (SM4-GCM) under this passphrase when it is set;
    # without it, as a plain file of mode 0600 (and `ledger verify` warns).
    site_key_passphrase: SecretStr | None = None
    # PBKDF2-HMAC-SM3 rounds protecting each user's SM2 signing key (tests lower it; never below 1,000).
    key_kdf_iterations: int = Field(default=200_000, ge=1000)
    # The plant's GS1 company prefix (厂商识别代码), the middle of every SSCC it prints on pallets (GS1 GenSpecs
    # §2.2.1). The demo default is a made-up prefix in GS1 China's range.
    gs1_company_prefix: str = Field(default="6934567", pattern=r"^\d{6,12}$")

    @property
    def var_dir(self) -> Path:
        return self.var.expanduser().resolve()

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'pharmatrace.sqlite3'}"

    def ensure_var(self) -> Path:
        path = self.var_dir
        path.mkdir(parents=True, exist_ok=True)
        return path


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
