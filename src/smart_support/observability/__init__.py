"""Observability and abuse limits: Prometheus metrics, JSON logs, readiness, rate limits
(docs/operations.md)."""

from smart_support.observability.limits import Limits
from smart_support.observability.logs import bind_conversation, configure_logging

__all__ = ["Limits", "bind_conversation", "configure_logging"]
