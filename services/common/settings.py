"""Service settings: every `WIREWATCH_*` environment variable (also read from `.env`).

Built once in the CLI and passed down; no other module reads the environment for settings.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What an operator can tune without touching code. Defaults run the embedded demo."""

    model_config = SettingsConfigDict(
        env_prefix="WIREWATCH_", env_file=".env", extra="ignore", populate_by_name=True
    )

    redis_url: SecretStr | None = Field(
        default=None, description="External Redis; unset starts the embedded engine"
    )
    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded engine keeps its AOF"
    )
    config: Path = Field(default=Path("rules"), description="The rules/ config folder")
    http_port: int = Field(default=8080, ge=0, le=65535, description="/healthz /readyz /metrics")
    http_host: str = Field(
        default="127.0.0.1", description="Address the health server binds; 0.0.0.0 in containers"
    )
    stream_retention_hours: float = Field(
        default=24.0,
        ge=0,
        description="Stream entries younger than this are kept even when every group has read them",
    )
    log_level: str = Field(default="INFO")
    key_prefix: str = Field(default="wirewatch", description="Prefix of every Redis key and stream")

    immediate_window: float = Field(
        default=2.0, ge=0, description="Seconds an immediate burst coalesces"
    )
    claim_idle: float = Field(
        default=30.0, gt=0, description="Seconds before a dead consumer's pending entry is claimed"
    )
    max_deliveries: int = Field(
        default=5, ge=1, description="Tries before a message is dead-lettered"
    )
    seen_retention_days: float = Field(default=30.0, gt=0)
    ledger_retention_days: float = Field(default=30.0, gt=0)

    max_body_bytes: int = Field(
        default=10_000_000, gt=0, description="Feed body cap, after decompression"
    )
    fetch_timeout: float = Field(default=30.0, gt=0, description="Seconds per fetch in all")
    max_redirects: int = Field(default=5, ge=0)
    max_concurrent_fetches: int = Field(default=20, ge=1)
    user_agent: str = Field(
        default="wirewatch/0.1 (+https://github.com/wirewatch/wirewatch; self-hosted news alerts)"
    )

    def redis_url_value(self) -> str | None:
        """The secret URL, for the one place that connects; never log it."""
        return self.redis_url.get_secret_value() if self.redis_url else None
