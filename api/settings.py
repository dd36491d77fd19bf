"""Settings of the HTTP API process (METERING_API_*), read in the entry point only."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.keys import ApiKey
from core.validate import MAX_EVENT_BYTES


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_API_")

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
