"""`smart-support webhooks`: the outbox from a terminal (dead letters, replay, endpoints, verify).

Imported when the command line starts: the work is imported inside each command.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click


def _run(work: Callable[[Any], Awaitable[int]]) -> None:
    """Open the store of DATABASE_URL, run `work(store)`, exit with its status (1: the store is
    unavailable, 2: a bad setting)."""
    from smart_support.errors import ConfigError, StoreUnavailable
    from smart_support.settings import load_settings
    from smart_support.store import create_store

    async def main() -> int:
        store = create_store(load_settings().database_url)
        await store.setup()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        sys.exit(asyncio.run(main()))
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except StoreUnavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.group("webhooks")
def webhooks() -> None:
    """The webhook outbox: dead letters, replays, disabled endpoints (docs/webhooks.md)."""


@webhooks.command("list")
@click.option(
    "--status",
    type=click.Choice(["pending", "delivered", "dead", "disabled"]),
    default="dead",
    show_default=True,
)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
def list_deliveries(status: str, limit: int) -> None:
    """List deliveries (newest first): id, event, conversation, endpoint, attempts, last error."""

    async def work(store: Any) -> int:
        found = await store.list_webhook_deliveries(status, limit=limit)  # type: ignore[arg-type]
        for d in found:
            click.echo(
                f"{d.id}\t{d.event_type}\t{d.conversation_id or '-'}\t{d.endpoint}"
                f"\t{d.attempts}\t{d.last_error or d.last_status or ''}"
            )
        if not found:
            click.echo(f"no {status} deliveries", err=True)
        return 0

    _run(work)


@webhooks.command("list-dead")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.pass_context
def list_dead(ctx: click.Context, limit: int) -> None:
    """The dead-letter list: deliveries that failed through the whole retry schedule."""
    ctx.invoke(list_deliveries, status="dead", limit=limit)


@webhooks.command("replay")
@click.argument("delivery_id")
def replay_delivery(delivery_id: str) -> None:
    """Send the dead (or disabled) delivery DELIVERY_ID again (a running server sends it)."""
    from smart_support.escalation.outbox import WebhookRequestError, replay

    async def work(store: Any) -> int:
        try:
            replayed = await replay(store, delivery_id)
        except WebhookRequestError as exc:
            click.echo(f"error: {exc.public_message}", err=True)
            return 1
        click.echo(f"{replayed.id} is pending again ({replayed.endpoint})")
        return 0

    _run(work)


@webhooks.command("enable")
@click.argument("endpoint")
def enable(endpoint: str) -> None:
    """Send to ENDPOINT again after it answered 410 Gone (its held deliveries are requeued)."""
    from datetime import UTC, datetime

    async def work(store: Any) -> int:
        requeued = await store.enable_webhook_endpoint(endpoint, datetime.now(UTC))
        click.echo(f"{endpoint} enabled; {requeued} delivery(ies) pending again")
        return 0

    _run(work)


@webhooks.command("verify")
@click.argument("body", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--header", "-H", "headers", multiple=True, metavar="NAME:VALUE", required=True)
@click.option(
    "--secret", "secrets", multiple=True, envvar="WEBHOOK_SECRETS", metavar="WHSEC", required=True
)
@click.option("--tolerance", type=int, default=300, show_default=True)
def verify_command(
    body: Path, headers: tuple[str, ...], secrets: tuple[str, ...], tolerance: int
) -> None:
    """Check a received webhook: BODY is the raw body file, -H the webhook-* headers."""
    from smart_support.escalation.signing import WebhookVerificationError, verify

    parsed = dict(h.split(":", 1) for h in headers if ":" in h)
    accepted = [s.strip() for value in secrets for s in value.split(",") if s.strip()]
    try:
        verify(
            body.read_bytes(),
            {k.strip(): v.strip() for k, v in parsed.items()},
            accepted,
            tolerance,
        )
    except WebhookVerificationError as exc:
        click.echo(f"invalid: {exc.public_message}", err=True)
        sys.exit(1)
    click.echo(json.dumps({"valid": True, "webhook-id": parsed.get("webhook-id", "").strip()}))
