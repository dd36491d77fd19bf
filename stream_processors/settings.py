"""Settings of the stream-processor role (env prefix METERING_), read in the entry point."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.kafka_settings import KafkaSettings

__all__ = ["KafkaSettings", "ProcessorSettings"]


class ProcessorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="METERING_", env_file=".env", extra="ignore")

    app_id: str = "metering-processor"
    batch_max: int = Field(10_000, ge=1, le=100_000)
    batch_within_s: float = Field(0.05, gt=0)
    allowed_lateness_h: float | None = Field(
        None, ge=0, description="Override of the price books' lateness_hours, for every role "
                                "(worker, close of cycle, metering rate); unset: the books'.")
    max_future_s: float = Field(300.0, ge=0)
    dedup_window: int = Field(500_000, ge=0)
    rate_pricebook: str = Field("marketing_tiers",
                                description="Price book (name or path) of the SMS rate table "
                                            "and of accounts that name no price book.")
    limits: bool = Field(True, description="Raise alerts and take limit decisions.")
    tick_s: float = Field(30.0, gt=0, description="How often the clock is looked at "
                                                  "(auto-downgrades, cycle roll-over).")
    clock: str = Field("system", description="system | file:<path> | fixed:<RFC 3339>")

    @property
    def max_future(self) -> timedelta:
        return timedelta(seconds=self.max_future_s)
