"""Settings of the ClickHouse side, read in the entry point (env prefix METERING_CH_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DATA_DIR = Path(__file__).resolve().parents[1] / "var"
"""Every default data directory is inside the checkout (two checkouts never share one)."""
DEFAULT_DSN = f"chdb://{DATA_DIR / 'chdb'}"
"""`chdb://` + an absolute path: `chdb:///var/chdb` would be the machine's /var/chdb."""


class ClickHouseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_CH_", env_file=".env", extra="ignore")

    dsn: str = Field(DEFAULT_DSN,
                     description="chdb://<absolute dir> (embedded; default: var/chdb of the "
                                 "checkout) or http(s)://host:port")
    database: str = Field("metering", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    cluster: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                description="Replicated engines and ON CLUSTER when set.")
    username: str = "default"
    password: SecretStr = SecretStr("")

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")

    @property
    def embedded_path(self) -> Path | None:
        """The embedded database's directory (None for a server)."""
        return Path(self.dsn.removeprefix("chdb://")) if self.embedded else None


class SinkSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_SINK_", env_file=".env", extra="ignore")

    app_id: str = "metering-sink"
    batch_max: int = Field(200, ge=1, le=10_000)
    """Metered-topic messages per insert (each carries up to 500 events)."""
    batch_within_s: float = Field(0.3, gt=0)
    projector: bool = Field(True, description="Close cycles into invoices (leader only).")
    projector_interval_s: float = Field(300.0, gt=0, description="Each run rates the "
                                        "whole usage log: minutes, not seconds.")
