"""The delivery worker: POST due outbox rows, signed, through the egress guard, with retries.

A 2xx delivers; 410 Gone disables the endpoint (its pending rows too) until an operator enables
it; anything else (429, 5xx, another 4xx, a timeout, a refused connection, an egress refusal) is
tried again after WEBHOOK_RETRY_SCHEDULE[attempt] seconds, +-20% jitter (or a 429's or 503's
longer Retry-After, up to the schedule's longest wait), and after the schedule's last entry the
delivery is dead (the dead-letter list: `smart-support webhooks list-dead`,
`GET /api/v1/operator/webhooks/deliveries?status=dead`, replayable).

Each process runs one worker; a row is claimed with a lease (the request timeout plus a margin)
by compare-and-set, so several processes never attempt the same delivery at once, and a row
held by a process that died is taken by another once the lease runs out. Only the oldest
pending row of a conversation and endpoint is claimed, so a receiver gets a conversation's
events in order, across retries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from smart_support.egress import HTTPError, TimeoutException, async_client
from smart_support.errors import EgressRefused, SmartSupportError
from smart_support.escalation.signing import sign
from smart_support.observability import metrics
from smart_support.settings import Settings
from smart_support.store.base import Store
from smart_support.store.records import WebhookDelivery
from smart_support.store.rows import dumps

log = logging.getLogger("smart_support.webhooks")

#: Added to the request timeout to make a claim's lease.
LEASE_MARGIN_SECONDS = 30.0
JITTER = 0.2
USER_AGENT = "smart-support-webhooks/1"


def shown(url: str) -> str:
    """An endpoint as logged: no credentials nor query (they may hold tokens)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def retry_delay(schedule: list[float], attempts: int, jitter: float = JITTER) -> float | None:
    """Seconds before the next attempt after `attempts` failed ones; None: no more (dead)."""
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return base * random.uniform(1 - jitter, 1 + jitter)


def retry_after(response: Any) -> float | None:
    """A 429's or 503's `Retry-After` in seconds (the delta form only), None without one."""
    if response.status_code not in (429, 503):
        return None
    try:
        seconds = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent (and signed)."""
    return dumps(delivery.payload).encode()


class DeliveryWorker:
    """Claims due webhook deliveries and sends them (one per process; see the module doc).

    Args:
        store: The store holding the outbox.
        settings: WEBHOOK_SECRETS, WEBHOOK_RETRY_SCHEDULE, WEBHOOK_TIMEOUT_SECONDS, the egress
            guard's settings.
        poll_seconds: How often to look for due rows when there was nothing to do.
        batch: Rows claimed at a time (sent concurrently: at most one per conversation and
            endpoint, so order holds).
        lease_seconds: How long a claim lasts; the request timeout plus a margin by default.
        worker_id: The name the claims carry; host, pid and a random part by default.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        poll_seconds: float = 1.0,
        batch: int = 10,
        lease_seconds: float | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.poll_seconds = poll_seconds
        self.batch = batch
        timeout = settings.webhook_timeout_seconds
        self.lease_seconds = (
            timeout + LEASE_MARGIN_SECONDS if lease_seconds is None else lease_seconds
        )
        self.worker_id = worker_id or f"{platform.node()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._wake = asyncio.Event()
        self._client: Any = None

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll."""
        self._wake.set()

    def _http(self) -> Any:
        if self._client is None:
            self._client = async_client(
                self.settings,
                timeout=self.settings.webhook_timeout_seconds,
                follow_redirects=False,  # a receiver that moved is a failed attempt, not a hop
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_once(self) -> int:
        """Claim the due rows and attempt each once; returns how many were attempted."""
        now = datetime.now(UTC)
        claimed = await self.store.claim_webhooks(
            self.worker_id, now + timedelta(seconds=self.lease_seconds), now, self.batch
        )
        if claimed:
            await asyncio.gather(*(self.attempt(d) for d in claimed))
        return len(claimed)

    async def attempt(self, delivery: WebhookDelivery) -> None:
        """POST one claimed delivery and record how it went."""
        body = body_of(delivery)
        headers = {
            **sign(delivery.id, body, self.settings.webhook_secrets),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
        attempt = delivery.attempts + 1
        status: int | None = None
        asked_wait: float | None = None
        started = time.monotonic()
        try:
            response = await self._http().post(delivery.endpoint, content=body, headers=headers)
            status = response.status_code
            asked_wait = retry_after(response)
            error = f"HTTP {status}"
        except EgressRefused as exc:
            error = f"refused by the egress guard: {exc.reason}"
        except TimeoutException:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g}s"
        except HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        ms = int((time.monotonic() - started) * 1000)
        now = datetime.now(UTC)
        where = shown(delivery.endpoint)
        if status is not None and 200 <= status < 300:
            await self.store.webhook_delivered(delivery.id, status, now)
            metrics.webhook_delivery("delivered")
            log.info(
                "webhook %s %s delivered to %s (attempt %d, HTTP %d, %d ms)",
                delivery.id, delivery.event_type, where, attempt, status, ms,
            )  # fmt: skip
            return
        if status == 410:
            disabled = await self.store.disable_webhook_endpoint(
                delivery.endpoint,
                "answered 410 Gone",
                now,
                delivery_id=delivery.id,
                worker=self.worker_id,
            )
            metrics.webhook_delivery("disabled")
            log.warning(
                "webhook endpoint %s answered 410 Gone: disabled, %d delivery(ies) held;"
                " enable it with `smart-support webhooks enable`",
                where, disabled,
            )  # fmt: skip
            return
        schedule = self.settings.webhook_retry_schedule
        delay = retry_delay(schedule, attempt)
        if delay is not None and asked_wait is not None:  # honoured, up to the longest wait
            delay = max(delay, min(asked_wait, max(schedule)))
        retry_at = None if delay is None else now + timedelta(seconds=delay)
        await self.store.webhook_failed(
            delivery.id,
            self.worker_id,
            status_code=status,
            error=error,
            retry_at=retry_at,
            now=now,
        )
        metrics.webhook_delivery("dead" if retry_at is None else "failed")
        if retry_at is None:
            log.warning(
                "webhook %s %s to %s is dead after %d attempts (%s); replay it with"
                " `smart-support webhooks replay %s`",
                delivery.id, delivery.event_type, where, attempt, error, delivery.id,
            )  # fmt: skip
        else:
            log.info(
                "webhook %s %s to %s failed (attempt %d, %s); next in %.1fs",
                delivery.id, delivery.event_type, where, attempt, error, delay,
            )  # fmt: skip

    async def run(self) -> None:
        """Deliver until cancelled, whatever goes wrong (an outage is logged once)."""
        failing = False
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                busy = 0
                if not failing:
                    failing = True
                    if isinstance(exc, SmartSupportError):
                        log.warning("webhook deliveries are failing (%s); retrying", exc.code)
                    else:
                        log.exception("webhook deliveries are failing; retrying")
            else:
                if failing:
                    log.info("webhook deliveries work again")
                    failing = False
            if busy:
                continue
            self._wake.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)


@asynccontextmanager
async def running(
    store: Store, settings: Settings, **options: float | int | str
) -> AsyncIterator[DeliveryWorker | None]:
    """Run a delivery worker for as long as the block lasts (none without WEBHOOK_URLS)."""
    if not settings.webhook_urls:
        yield None
        return
    worker = DeliveryWorker(store, settings, **options)  # type: ignore[arg-type]
    task = asyncio.create_task(worker.run(), name="webhook-deliveries")
    log.info("webhook deliveries running (%d endpoint(s))", len(settings.webhook_urls))
    try:
        yield worker
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await worker.aclose()


__all__ = ["DeliveryWorker", "body_of", "retry_after", "retry_delay", "running", "shown"]
