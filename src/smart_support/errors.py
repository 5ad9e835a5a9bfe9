"""Errors that say who is at fault; the server maps them to HTTP and WebSocket codes once."""

from __future__ import annotations


class SmartSupportError(Exception):
    """Base of every error the product raises on purpose."""

    code = "internal_error"
    #: A sentence safe to show a customer. Never `str(exc)` of an unexpected error.
    public_message = "Something went wrong on our side. Please try again."


class ConfigError(SmartSupportError):
    """The operator's configuration is wrong: a setting, agents.yaml, a tool reference."""

    code = "config_error"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file, self.line, self.field = file, line, field
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        if field:
            where += f"{field}: "
        super().__init__(where + message)


class EgressRefused(SmartSupportError):
    """An outbound request was refused by the egress guard (the URL's owner is at fault)."""

    code = "egress_refused"
    public_message = "That address is not allowed."

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    @property
    def detail(self) -> str:
        """The reason without its `refused: ` lead, to follow words such as "was refused: "."""
        return self.reason.removeprefix("refused: ")


class ToolError(SmartSupportError):
    """A tool or the API behind it failed (down, timed out, answered an error)."""

    code = "tool_error"
    public_message = "A system we rely on did not answer. Please try again shortly."


class ModelError(SmartSupportError):
    """The language model provider failed after retries (timeout, rate limit, outage)."""

    code = "model_unavailable"
    public_message = "Our assistant is not available right now. Please try again in a minute."


class ApprovalError(SmartSupportError):
    """An approval decision that cannot be taken: unknown, already decided, expired, not yours."""

    code = "approval_error"
    public_message = "That approval can no longer be decided."


class StoreUnavailable(SmartSupportError):
    """The database could not be reached; nothing was accepted."""

    code = "store_unavailable"
    public_message = (
        "We can't save your conversation right now, so your message was not sent. "
        "Please send it again in a moment."
    )


class IdentityError(SmartSupportError):
    """A signed identity from the host page that cannot be trusted: forged, expired, malformed.

    The message says why, for the site's developer; the customer sees `public_message`.
    """

    code = "identity_refused"
    public_message = "We could not confirm who you are. Please reload the page and try again."


class ActionNotRecorded(StoreUnavailable):
    """An approved action ran, then the database went away before its outcome was saved.

    The customer is told what happened to the action, not that their message was lost.
    """

    def __init__(self, action: str, succeeded: bool) -> None:
        self.action, self.succeeded = action, succeeded
        outcome = "was carried out" if succeeded else "did not go through"
        self.public_message = (
            f'"{action}" {outcome}. We could not save the rest of this conversation just now; '
            "please send your next message in a moment."
        )
        super().__init__(self.public_message)


class ConversationNotFound(SmartSupportError):
    code = "conversation_not_found"
    public_message = "This conversation does not exist or is not yours."
