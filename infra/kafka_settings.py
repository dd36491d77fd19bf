"""Where the Kafka broker is (env prefix METERING_; KAFKA_BOOTSTRAP_SERVERS), read in the
entry point. Shared by every role that talks to Kafka."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where the broker is. Unset bootstrap servers: the project starts its own broker."""

    model_config = SettingsConfigDict(env_prefix="METERING_", env_file=".env", extra="ignore")

    bootstrap_servers: str | None = Field(
        None, validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS",
                                            "METERING_BOOTSTRAP_SERVERS"))
    topic_prefix: str = Field("", pattern=r"^[A-Za-z0-9._-]*$")
    partitions: int = Field(4, ge=1, le=1024)
    data_dir: Path = Path("var")
    broker_port: int = 9092
    controller_port: int = 9093
