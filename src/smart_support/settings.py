"""The one settings class, read from the environment and `.env` once and passed in."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from smart_support.errors import ConfigError

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-4-6"
DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"

#: The environment variable each provider SDK reads its API key from.
PROVIDER_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}

# USD per million tokens (input, output). Operators override or extend with MODEL_PRICES.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-opus-4-5": (5.0, 25.0),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4o-mini": (0.15, 0.6),
    "offline": (0.0, 0.0),
}


class Settings(BaseSettings):
    """Everything an operator can set. Environment variables use the field name in upper case."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    llm_provider: str = Field(
        "auto",
        description="auto, offline, anthropic, openai, ollama, or any init_chat_model provider.",
    )
    llm_model: str | None = Field(None, description="Model name; provider default when unset.")
    router_model: str | None = Field(None, description="Optional cheaper model for routing.")
    llm_base_url: str | None = Field(
        None, description="Provider endpoint override (an OpenAI-compatible server, Ollama)."
    )
    llm_timeout_seconds: float = Field(60.0, gt=0)
    llm_max_retries: int = Field(3, ge=0, le=10)
    database_url: str = Field("sqlite:///./data/smart-support.db")
    agents_file: Path | None = Field(None, description="agents.yaml; the demo agents when unset.")
    approval_ttl_seconds: int = Field(1800, gt=0)
    conversation_idle_seconds: int = Field(
        1800,
        ge=0,
        description="A conversation with no event for this long closes and gets its outcome;"
        " 0 never closes one for idleness.",
    )
    retention_days: int = Field(
        0,
        ge=0,
        description="Conversations closed more than this many days ago are deleted with their"
        " events, approvals, usage and checkpoints, in batches; 0 keeps them forever.",
    )
    retention_batch: int = Field(
        200, gt=0, le=10_000, description="Conversations deleted per retention statement."
    )
    redact_personal_data: bool = Field(
        False,
        description="Mask emails, phone numbers, card-like numbers, street addresses and the"
        " REDACT_FIELDS in what the operator replay and analytics APIs return.",
    )
    redact_fields: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated argument or result field names (name, address) whose values"
        " REDACT_PERSONAL_DATA masks whole, whatever they contain.",
    )
    public_url: str = Field(
        "http://localhost:8000",
        description="How people reach this server (links to a conversation's replay in webhooks).",
    )
    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated URLs that receive the webhook events (a hand-off first);"
        " sent through the egress guard.",
    )
    webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Standard Webhooks secrets (`whsec_` + base64); the first"
        " signs, every one is sent as a signature during a rotation.",
    )
    webhook_events: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["conversation.escalated"],
        description="Comma-separated event types sent: conversation.escalated (default),"
        " approval.requested, approval.decided, conversation.closed.",
    )
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Comma-separated seconds to wait before each retry (with jitter); after the"
        " last, a delivery goes to the dead-letter list. Default: 5 s, 5 min, 30 min, 2 h, 5 h,"
        " 10 h, 10 h.",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=120)
    support_hours: str | None = Field(
        None,
        description="When people answer a hand-off, e.g. `mon-fri 09:00-17:30` (in"
        " SUPPORT_TIMEZONE); unset means always.",
    )
    support_timezone: str = Field("UTC", description="IANA time zone of SUPPORT_HOURS.")
    offline_promise: str = Field(
        "by email within one business day",
        max_length=200,
        description="How a person answers outside SUPPORT_HOURS, as the customer is told.",
    )
    model_prices: Annotated[dict[str, tuple[float, float]], NoDecode] = Field(
        default_factory=dict, description='JSON: {"model": [usd_in_per_mtok, usd_out_per_mtok]}'
    )
    egress_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated host:port pairs the egress guard lets through (dev/ops).",
    )
    egress_timeout_seconds: float = Field(10.0, gt=0)
    egress_max_bytes: int = Field(10 * 1024 * 1024, gt=0)
    shop_url: str = Field("http://127.0.0.1:8001", description="Base URL of the demo shop API.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    redis_url: str | None = Field(
        None,
        description="With PostgreSQL: carry live events between server processes through"
        " this Redis (redis://host:6379/0) instead of the database's LISTEN/NOTIFY.",
    )
    redis_channel: str = Field(
        "smart-support:events",
        min_length=1,
        max_length=200,
        description="The Redis pub/sub channel of the live events: one per deployment (Redis"
        " channels are shared by every database number of a server).",
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes `serve` starts on one port; above 1 needs PostgreSQL.",
    )
    operator_token: str | None = Field(None, description="Bearer token for operator endpoints.")
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated origins (https://shop.example) whose pages may open the chat"
        " WebSocket besides the server's own; for embedding the chat in another site.",
    )
    history_window: int = Field(12, ge=2, le=200, description="Messages an agent sees per turn.")
    welcome_message: str = Field(
        "Hi! How can I help you today?",
        min_length=1,
        max_length=1000,
        description="What the chat says before the customer's first message (plain text).",
    )
    link_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated domains (shop.example) whose links the chat shows as links;"
        " subdomains included. Any other URL in a reply is shown as plain text, so text from a"
        " tool or a customer cannot become a phishing link in the agent's voice.",
    )
    identity_secret: SecretStr | None = Field(
        None,
        description="HS256 secret the host site signs customer identities (JWT) with; at least"
        " 32 characters.",
    )
    identity_public_key: str | None = Field(
        None,
        description="PEM public key (RS256/ES256) the host site's identity JWTs are checked with,"
        " instead of a shared secret.",
    )
    identity_issuer: str | None = Field(None, description="Required `iss` of identity JWTs.")
    identity_audience: str | None = Field(None, description="Required `aud` of identity JWTs.")
    identity_max_ttl_seconds: int = Field(
        24 * 3600, gt=0, description="Identity JWTs valid for longer than this are refused."
    )
    demo_identities: bool = Field(
        False,
        description="Let the chat issue signed identities of demo customers (the demo's picker)."
        " Never in production.",
    )
    # -- observability and abuse limits (docs/operations.md) --------------------------------
    log_format: Literal["text", "json"] = Field(
        "text",
        description="`json`: one JSON object per log line, with the conversation id and"
        " REDACT_PERSONAL_DATA applied to the message and its fields.",
    )
    log_level: str = Field(
        "INFO", description="Level of Smart Support's own loggers (DEBUG, INFO, WARNING...)."
    )
    rate_limit_messages_per_minute: int = Field(
        20, ge=0, description="Customer messages one conversation may send a minute; 0: no limit."
    )
    rate_limit_conversations_per_minute: int = Field(
        10, ge=0, description="New conversations one client IP may start a minute; 0: no limit."
    )
    max_sockets_per_ip: int = Field(
        20, ge=0, description="Chat sockets one client IP may hold open; 0: no cap."
    )
    max_conversation_turns: int = Field(
        200, ge=0, description="Customer messages one conversation may have; 0: no cap."
    )
    # -- tracing (observability/tracing.py): OpenTelemetry's own variable names ----------------
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        description="Base URL of the operator's OTLP/HTTP collector (`/v1/traces` is appended);"
        " set, it turns tracing on. Not checked against EGRESS_ALLOWLIST.",
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        None,
        description="Full URL the spans are POSTed to, used as it is; wins over"
        " OTEL_EXPORTER_OTLP_ENDPOINT and also turns tracing on.",
    )
    otel_exporter_otlp_headers: SecretStr | None = Field(
        None,
        description="`key=value,...` headers of every export request (a collector's API key);"
        " values URL-encoded, as OpenTelemetry specifies.",
    )
    otel_service_name: str = Field(
        "smart-support", min_length=1, description="The `service.name` of every span."
    )
    otel_traces_sampler: Literal[
        "always_on",
        "always_off",
        "traceidratio",
        "parentbased_always_on",
        "parentbased_always_off",
        "parentbased_traceidratio",
    ] = Field(
        "parentbased_always_on",
        description="Which turns are traced; the ratio samplers keep OTEL_TRACES_SAMPLER_ARG of"
        " them.",
    )
    otel_traces_sampler_arg: float = Field(
        1.0, ge=0.0, le=1.0, description="The ratio of the `traceidratio` samplers (0 to 1)."
    )

    @field_validator(
        "egress_allowlist",
        "allowed_origins",
        "link_domains",
        "redact_fields",
        "webhook_urls",
        "webhook_secrets",
        "webhook_events",
        "webhook_retry_schedule",
        mode="before",
    )
    @classmethod
    def _split_allowlist(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("link_domains")
    @classmethod
    def _bare_domains(cls, value: list[str]) -> list[str]:
        domains = []
        for entry in value:
            domain = entry.strip().lower().rstrip(".")
            if not re.fullmatch(
                r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", domain
            ):
                raise ValueError(
                    f"{entry!r} is not a domain name (shop.example, no scheme or path)"
                )
            domains.append(domain)
        return domains

    @field_validator("model_prices", mode="before")
    @classmethod
    def _parse_prices(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint")
    @classmethod
    def _collector_url(cls, value: str | None) -> str | None:
        # Empty (`OTEL_EXPORTER_OTLP_ENDPOINT=` in a compose file) means unset: tracing off.
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.fullmatch(r"https?://[^/\s?#]+(/\S*)?", value):
            raise ValueError(
                f"{value!r} is not a collector URL (http://collector:4318, with scheme and host)"
            )
        return value

    @field_validator("otel_traces_sampler", mode="before")
    @classmethod
    def _sampler_name(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_address(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None  # REDIS_URL= (empty): not set
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("identity_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("llm_provider")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @field_validator("llm_provider")
    @classmethod
    def _provider_key_is_set(cls, value: str) -> str:
        # The provider SDKs read their key from the environment; without it every turn would fail.
        key = PROVIDER_KEYS.get(value)
        if key and not os.environ.get(key):
            local = " (any value for a local server)" if value == "openai" else ""
            raise PydanticCustomError(
                "missing_key",
                f"{value} needs {key}{local} in the environment, or use LLM_PROVIDER=offline",
            )
        return value

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file behind a `sqlite:///path` URL."""
        return Path(self.database_url.split(":///", 1)[1] if ":///" in self.database_url else "")

    def prices(self) -> dict[str, tuple[float, float]]:
        return {**DEFAULT_PRICES, **self.model_prices}

    def resolved_provider(self) -> str:
        """`auto` becomes anthropic or openai when their key is set, else offline."""
        if self.llm_provider != "auto":
            return self.llm_provider
        if os.environ.get("ANTHROPIC_API_KEY"):
            return "anthropic"
        if os.environ.get("OPENAI_API_KEY"):
            return "openai"
        return "offline"


def load_settings(**overrides: object) -> Settings:
    """Read the settings once; a bad value becomes one ConfigError line naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(f"invalid setting {name}: {first['msg']}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid setting MODEL_PRICES: not JSON ({exc.msg})") from None
