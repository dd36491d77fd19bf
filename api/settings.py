"""Settings of the HTTP API process (METERING_API_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_API_")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    view_wait_s: float = Field(10.0, ge=0, description="How long a request that must see "
                                                       "its own event waits for the stream.")
