"""Chat models from settings, through LangChain's `init_chat_model` (no wrapper of our own).

Provider clients keep their own retry with backoff for timeouts and rate limits
(`max_retries`, `timeout`); what still fails reaches the customer as a clear error. Provider
endpoints are configured only by the operator, so they do not go through the egress guard.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain.chat_models import init_chat_model
from langchain_core.language_models import BaseChatModel

from smart_support.errors import ConfigError
from smart_support.settings import DEFAULT_ANTHROPIC_MODEL, DEFAULT_OPENAI_MODEL, Settings

log = logging.getLogger("smart_support.models")

_DEFAULT_MODELS = {"anthropic": DEFAULT_ANTHROPIC_MODEL, "openai": DEFAULT_OPENAI_MODEL}


def model_label(settings: Settings) -> str:
    """How the CLI and UI name the model: "offline model", or "provider:model"."""
    provider = settings.resolved_provider()
    if provider == "offline":
        return "offline model"
    return f"{provider}:{settings.llm_model or _DEFAULT_MODELS.get(provider, '?')}"


def build_chat_model(settings: Settings, *, router: bool = False) -> BaseChatModel:
    """The chat model for agents, or for routing when `router` (ROUTER_MODEL if set)."""
    provider = settings.resolved_provider()
    if provider == "offline":
        from smart_support.models.offline import OfflineChatModel

        return OfflineChatModel()
    name = (settings.router_model if router else None) or settings.llm_model
    name = name or _DEFAULT_MODELS.get(provider)
    if not name:
        raise ConfigError(f"LLM_MODEL is required for provider {provider!r}")
    kwargs: dict[str, Any] = {
        "timeout": settings.llm_timeout_seconds,
        "max_retries": settings.llm_max_retries,
    }
    if settings.llm_base_url:
        kwargs["base_url"] = settings.llm_base_url
    try:
        return init_chat_model(name, model_provider=provider, **kwargs)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"cannot use LLM_PROVIDER={provider!r} LLM_MODEL={name!r}: {exc}"
        ) from exc
