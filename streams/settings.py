"""Every knob of a chipscreen deployment, read once from ``CHIPSCREEN_*`` environment variables.

One settings model for the worker, the CLI and the tests, so that a variable means the same thing
wherever it is read. Secrets are ``SecretStr``: they never show in ``repr``, logs or ``--help``.
"""

from __future__ import annotations

import ssl
from enum import StrEnum
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProcessingGuarantee(StrEnum):
    AT_LEAST_ONCE = "at_least_once"
    EXACTLY_ONCE = "exactly_once"


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


class Settings(BaseSettings):
    """Configuration of one chipscreen deployment."""

    model_config = SettingsConfigDict(env_prefix="CHIPSCREEN_", extra="ignore")

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        description="Comma-separated Kafka bootstrap servers (host:port).",
    )
    app_id: str = Field(default="chipscreen", description="Faust app id and consumer group.")
    topic_prefix: str = Field(default="", description="Prefix put before every topic name.")
    partitions: int = Field(
        default=8,
        ge=1,
        description="Partitions of the order, shipment, output and repartition topics; "
        "co-partitioned topics must share it, so it is one number.",
    )
    replication_factor: int = Field(default=1, ge=1)
    web_host: str = Field(
        default="127.0.0.1", description="Bind address of the worker's web views."
    )
    web_port: int = Field(default=6066, ge=0, le=65535)
    store: str = Field(
        default="rocksdb://",
        description="Faust table store: rocksdb:// (through rocksdict) in production, "
        "memory:// in tests.",
    )
    data_dir: str = Field(default=".chipscreen", description="Where the worker keeps table state.")
    processing_guarantee: ProcessingGuarantee = ProcessingGuarantee.AT_LEAST_ONCE
    policy_pack: str = Field(
        default="ai-diffusion-2025", description="Policy pack the deployment screens under."
    )
    max_message_bytes: int = Field(default=1024 * 1024, ge=1024)
    session_timeout_s: float = Field(
        default=15.0,
        ge=6,
        description="Consumer-group session timeout: how long a crashed worker's partitions "
        "wait before another worker takes them (Faust's default is 60 s).",
    )
    batch_size: int = Field(default=2000, ge=1, description="Most events an agent takes per batch.")
    batch_window_ms: float = Field(
        default=10.0,
        gt=0,
        description="Longest an agent waits to fill a batch: the latency each stage may add "
        "when traffic is light (a backlog fills batches at once).",
    )
    stall_reseek_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds an input partition may sit fully read but uncommitted before the "
        "worker reports itself unhealthy, for a supervisor to restart it (a safety net; the "
        "name is from when it sought back).",
    )
    party_lists: str = Field(
        default="",
        description="Comma-separated restricted-party list files (US Consolidated Screening "
        "List CSV); empty: no party screening.",
    )
    orphan_grace_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a shipment waits for its order's decision before it is an orphan.",
    )

    security_protocol: SecurityProtocol = SecurityProtocol.PLAINTEXT
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @field_validator("bootstrap_servers")
    @classmethod
    def _strip_scheme(cls, value: str) -> str:
        # Accept the kafka:// URLs Faust users are used to; every client here wants host:port.
        parts = [p.strip().removeprefix("kafka://") for p in value.split(",") if p.strip()]
        if not parts:
            raise ValueError("at least one bootstrap server is required")
        return ",".join(parts)

    def to_env(self) -> dict[str, str]:
        """These settings as CHIPSCREEN_* variables, to start another process with them."""
        env: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if isinstance(value, StrEnum):
                value = value.value
            env[f"CHIPSCREEN_{name.upper()}"] = str(value)
        return env

    def topic(self, name: str) -> str:
        """The configured name of a contract topic."""
        return f"{self.topic_prefix}{name}"

    @property
    def bootstrap_list(self) -> list[str]:
        return self.bootstrap_servers.split(",")

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
            return None
        ctx = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.ssl_certfile:
            ctx.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        return ctx

    def _common_client_config(self) -> dict[str, Any]:
        # aiokafka and kafka-python share these names; they differ only in how TLS is given
        cfg: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_list,
            "security_protocol": self.security_protocol.value,
        }
        if self.sasl_mechanism is not None:
            cfg["sasl_mechanism"] = self.sasl_mechanism.value
            cfg["sasl_plain_username"] = self.sasl_username
            cfg["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        return cfg

    def aiokafka_config(self) -> dict[str, Any]:
        """Connection settings in aiokafka's vocabulary."""
        cfg = self._common_client_config()
        ctx = self.ssl_context()
        if ctx is not None:
            cfg["ssl_context"] = ctx
        return cfg

    def kafka_python_config(self) -> dict[str, Any]:
        """Connection settings in kafka-python's vocabulary (producer, consumer, admin)."""
        cfg = self._common_client_config()
        if self.security_protocol in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL):
            cfg["ssl_cafile"] = self.ssl_cafile
            cfg["ssl_certfile"] = self.ssl_certfile
            cfg["ssl_keyfile"] = self.ssl_keyfile
            cfg["ssl_check_hostname"] = True
        return cfg
