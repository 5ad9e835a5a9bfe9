"""`smart-support chat`: the engine in a terminal.

Interactive: type messages, answer approval prompts. Piped: one message per line, so sessions can
be scripted. While an approval is pending, `approve`/`yes` and `reject`/`no` decide it; any other
line is a message, answered while the approval waits. `--as EMAIL` chats as a demo customer;
without it the chat is anonymous and the assistant asks who you are before anything personal.

With the demo agents (AGENTS_FILE unset) the chat lets the demo shop's own address through the
egress guard and starts the shop if nothing answers there. The terminal shows the conversation and
one-line warnings; tracebacks go to the log file only (`chat.log` beside the SQLite database).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

from smart_support.errors import ConfigError, SmartSupportError
from smart_support.identity import Identity
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import (
    AgentSelected,
    ApprovalRequested,
    ApprovalResolved,
    CustomerVerified,
    Event,
    ReplyEnd,
    Token,
    ToolActivity,
    TurnError,
)
from smart_support.server.protocol import tool_label
from smart_support.settings import Settings

log = logging.getLogger("smart_support.chat")

APPROVE = {"approve", "a", "yes", "y"}
REJECT = {"reject", "r", "no", "n"}


class _Printer:
    """Renders events as a customer may see them: agents by their display names, tool calls
    as the chat socket's labels (never a tool's name or result), approvals by their summary."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.speaking: str | None = None
        self.pending: ApprovalRequested | None = None
        self.names: dict[str, str] = {}

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _line(self, text: str) -> None:
        if self.speaking:
            self.write("\n")
            self.speaking = None
        self.write(text + "\n")

    def _name(self, agent: str) -> str:
        return self.names.get(agent, "Support")

    def show(self, event: Event) -> None:
        if isinstance(event, AgentSelected):
            self.names[event.agent] = event.display_name or "Support"
            if event.agent != event.previous:
                self._line(f"  (handed to {self._name(event.agent)})")
        elif isinstance(event, Token):
            if self.speaking != event.agent:
                if self.speaking:
                    self.write("\n")
                self.write(f"{self._name(event.agent)}> ")
                self.speaking = event.agent
            self.write(event.text)
        elif isinstance(event, ToolActivity):
            if event.status == "started":
                self._line(f"  · {tool_label(event.tool, event.status)}")
        elif isinstance(event, ApprovalRequested):
            self.pending = event
            details = ", ".join(f"{k}: {v}" for k, v in event.args.items())
            self._line(
                f"APPROVAL NEEDED: {event.summary}\n"
                f"  details: {details}\n"
                f"  expires: {event.expires_at:%Y-%m-%d %H:%M:%S %Z}\n"
                "  answer `approve` (yes) or `reject` (no), or ask something first"
            )
        elif isinstance(event, ApprovalResolved):
            if self.pending is not None and self.pending.approval_id == event.approval_id:
                self.pending = None
            self._line(f"  approval {event.status}")
        elif isinstance(event, CustomerVerified):
            self._line(f"  (verified: {event.customer})")
        elif isinstance(event, ReplyEnd):
            if self.speaking is None and event.text:
                self.write(f"{self._name(event.agent)}> {event.text}")
                self.speaking = event.agent
            if self.speaking:
                self.write("\n")
                self.speaking = None
        elif isinstance(event, TurnError):
            self._line(f"error: {event.message} [{event.code}]")


@asynccontextmanager
async def _chat_settings(settings: Settings, printer: _Printer) -> AsyncIterator[Settings]:
    """The settings to chat with: with the demo agents, the demo shop reachable and running."""
    if settings.agents_file is not None:
        yield settings
        return
    from smart_support.demo.shop_process import demo_shop

    async with demo_shop(settings, announce=lambda line: printer.write(line + "\n")) as demo:
        yield demo


async def chat(
    settings: Settings,
    lines: TextIO,
    out: TextIO,
    *,
    interactive: bool,
    identity: Identity | None = None,
) -> int:
    """Run a chat session reading `lines` until end of input, as `identity` (or anonymous)."""
    printer = _Printer(out)
    async with (
        _chat_settings(settings, printer) as settings,
        Engine.open(settings) as engine,
    ):
        conversation_id, _ = await engine.start_conversation(identity)
        if identity is not None:
            who = f"signed in as {identity.label}"
        elif engine.registry.identity.verify is not None:
            who = "anonymous (the assistant asks who you are before anything personal)"
        else:
            who = "anonymous"
        printer.write(
            f"Smart Support chat · model: {engine.model_label} · conversation {conversation_id}\n"
            f"You are {who}. Type a message; end with Ctrl-D.\n"
        )
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                printer.write("approve/reject> " if printer.pending else "you> ")
            line = await loop.run_in_executor(None, lines.readline)
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if not interactive:
                printer.write(f"you> {text}\n")
            await engine.expire_due()
            choice = text.lower().strip(" .!")
            if printer.pending is not None and choice in APPROVE | REJECT:
                pending = printer.pending
                events = engine.decide(
                    pending.approval_id, choice in APPROVE, "customer", conversation_id
                )
            else:  # anything else is a message, answered while the approval waits
                events = engine.send(conversation_id, text)
            async for event in events:
                printer.show(event)
        if printer.pending is not None:
            printer.write(
                f"Still waiting for your approval: {printer.pending.summary} (until "
                f"{printer.pending.expires_at:%Y-%m-%d %H:%M %Z}); nothing was changed.\n"
            )
    return 0


class _OneLine(logging.Formatter):
    """`warning: message (details in LOG)`: never a traceback in the terminal."""

    def __init__(self, log_file: Path | None) -> None:
        super().__init__("%(levelname)s: %(message)s")
        self.suffix = f" (details in {log_file})" if log_file else ""

    def format(self, record: logging.LogRecord) -> str:
        plain = logging.makeLogRecord(
            {**record.__dict__, "exc_info": None, "exc_text": None, "stack_info": None}
        )
        plain.levelname = record.levelname.lower()
        text = super().format(plain).splitlines()[0] if plain.getMessage() else ""
        return text + (self.suffix if record.exc_info else "")


def log_file_for(settings: Settings) -> Path:
    """`chat.log` beside the SQLite database, or in the working directory with PostgreSQL."""
    folder = Path(".") if settings.is_postgres else settings.sqlite_path.parent
    return folder / "chat.log"


def configure_logging(settings: Settings) -> Path | None:
    """Everything (with tracebacks) to the log file; one-line warnings to stderr.

    Returns:
        The log file, or None when it cannot be written (then stderr alone, still one-line).
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = log_file_for(settings)
    log_file: Path | None = path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        log_file = None
    else:
        file_handler.setLevel(logging.INFO)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(file_handler)
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(logging.WARNING)
    terminal.setFormatter(_OneLine(log_file))
    root.addHandler(terminal)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    return log_file


def run_chat(settings: Settings, as_email: str | None = None) -> int:
    """Entry point of `smart-support chat` (`--as EMAIL`: as that demo customer)."""
    log_file = configure_logging(settings)
    try:
        identity = None
        if as_email is not None:
            if settings.agents_file is not None:
                raise ConfigError("--as picks a demo customer; it works with the demo agents only")
            from smart_support.demo.customers import demo_identity

            identity = demo_identity(as_email)
        return asyncio.run(
            chat(
                settings,
                sys.stdin,
                sys.stdout,
                interactive=sys.stdin.isatty(),
                identity=identity,
            )
        )
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SmartSupportError as exc:  # the cause goes to the log file only: one line here
        log.info("chat stopped: %s", exc, exc_info=exc)
        where = f" (details in {log_file})" if log_file else f" ({exc})"
        print(f"error: {exc.public_message}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the user sees one line; the traceback is in the log file
        log.error("the chat stopped unexpectedly", exc_info=exc)
        where = f" (details in {log_file})" if log_file else ""
        print(f"error: the chat stopped unexpectedly{where}", file=sys.stderr)
        return 1
