"""Structured logs: one JSON object a line (LOG_FORMAT=json), with the conversation id of the
code that logged it and REDACT_PERSONAL_DATA applied.

The conversation id lives in a contextvar (`bind_conversation`): the chat socket sets it for
each conversation it follows (the turns it spawns inherit it, asyncio tasks copy the context)
and the REST handlers that take a conversation id set it for their request.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any

from smart_support.errors import ConfigError
from smart_support.redaction import Redactor
from smart_support.settings import Settings

#: The conversation the running code works for; None outside one.
conversation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "smart_support_conversation_id", default=None
)
#: The name of the handler `configure_logging` installs on the root logger.
JSON_HANDLER = "smart_support.json"
#: Our loggers' common parent: LOG_LEVEL applies to it.
PACKAGE_LOGGER = "smart_support"

#: Attributes every LogRecord has: anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def bind_conversation(value: str | None) -> None:
    """Log lines from here on (in this task and the tasks it starts) carry `value`."""
    conversation_id.set(value)


class JsonFormatter(logging.Formatter):
    """A record as one JSON object: `time`, `level`, `logger`, `message`, `conversation_id`
    (when known), `exception` (its traceback) and the record's `extra=` fields; the message,
    the traceback and the fields masked by `redactor`."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        redact = self.redactor
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact.text(record.getMessage()),
        }
        conversation = getattr(record, "conversation_id", None) or conversation_id.get()
        if conversation:
            line["conversation_id"] = conversation
        extra = {
            k: v
            for k, v in vars(record).items()
            if k not in _STANDARD and k != "conversation_id" and not k.startswith("_")
        }
        if extra:
            line.update(redact.value(json.loads(json.dumps(extra, default=str))))
        if record.exc_info:
            line["exception"] = redact.text(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = redact.text(record.exc_text)
        if record.stack_info:
            line["stack"] = redact.text(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(settings: Settings) -> None:
    """Apply LOG_LEVEL to our loggers and, with LOG_FORMAT=json, write every log line (ours,
    the libraries', uvicorn's) to stderr as JSON. Calling it again changes nothing more.

    Raises:
        ConfigError: LOG_LEVEL is not a level name.
    """
    level = settings.log_level.strip().upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(
            f"invalid setting LOG_LEVEL: {settings.log_level!r} is not one of DEBUG, INFO,"
            " WARNING, ERROR, CRITICAL"
        )
    if "log_level" in settings.model_fields_set:  # unset: leave the process's logging alone
        logging.getLogger(PACKAGE_LOGGER).setLevel(level)
    if settings.log_format != "json":
        return
    formatter = JsonFormatter(Redactor.from_settings(settings))
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == JSON_HANDLER:
            handler.setFormatter(formatter)
            break
        if type(handler) is logging.StreamHandler:  # `logging.basicConfig`'s (serve's)
            root.removeHandler(handler)
    else:
        handler = logging.StreamHandler()
        handler.set_name(JSON_HANDLER)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    # uvicorn's own loggers do not propagate to the root: its stream handlers write JSON too
    # (only plain StreamHandlers: a handler of another kind belongs to someone else).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler:
                handler.setFormatter(formatter)


__all__ = [
    "JSON_HANDLER",
    "JsonFormatter",
    "bind_conversation",
    "configure_logging",
    "conversation_id",
]
