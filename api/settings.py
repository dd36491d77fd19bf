"""Settings of the HTTP API process (METERING_API_*), read in the entry point only."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.keys import ApiKey
from api.server import ServerLimits
from core.validate import MAX_EVENT_BYTES


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_API_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    view_wait_s: float = Field(10.0, ge=0, description="How long a request that must see "
                                                       "its own event waits for the stream.")
    keys_file: Path | None = Field(None, description="YAML or JSON file of API keys "
                                                     "(sha256 digests and rights).")
    keys: list[ApiKey] = Field(default_factory=list,
                               description="Keys given inline, as a JSON list of entries "
                                           "(tests, one-off runs); added to the file's.")
    max_event_bytes: int = Field(MAX_EVENT_BYTES, ge=1, le=MAX_EVENT_BYTES,
                                 description="Largest single event (413 above).")
    max_batch_events: int = Field(1000, ge=1, le=100_000)
    max_batch_bytes: int = Field(10_000_000, ge=1, description="Largest batch body.")
    send_timeout_s: float = Field(30.0, gt=0, description="How long ingest waits for Kafka "
                                                          "to acknowledge (503 after).")
    feed_keep: int = Field(100, ge=1, le=10_000, description="Alerts and decisions kept "
                                                             "in memory per account.")
    header_timeout_s: float = Field(10.0, gt=0, description="Request line and headers must "
                                                            "arrive within this (408).")
    body_timeout_s: float = Field(30.0, gt=0, description="The body must arrive within this "
                                                          "after the headers (408).")
    max_connections_per_client: int = Field(64, ge=1, description="Open connections per "
                                                                  "client address (429).")
    max_connections: int = Field(2048, ge=1, description="Open connections in all (503).")
    keep_alive_s: float = Field(5.0, gt=0, description="Idle keep-alive connections close.")

    def server_limits(self) -> ServerLimits:
        return ServerLimits(self.header_timeout_s, self.body_timeout_s,
                            self.max_connections_per_client, self.max_connections,
                            self.keep_alive_s)
