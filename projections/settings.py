"""Settings of the ClickHouse side, read in the entry point (env prefix METERING_CH_)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClickHouseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_CH_")

    dsn: str = Field("chdb:///var/chdb",
                     description="chdb:///<dir> (embedded, default) or http(s)://host:port")
    database: str = Field("metering", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    cluster: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                                description="Replicated engines and ON CLUSTER when set.")
    username: str = "default"
    password: SecretStr = SecretStr("")

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")
