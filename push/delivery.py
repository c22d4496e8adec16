"""The push delivery loop: every server process runs one (as the call sweeper), and together
they send what the outbox owes.

Each round claims due rows with a lease (SKIP LOCKED on PostgreSQL: two processes never take
the same row), decides each (the user is online, has read it, is in do-not-disturb: skipped),
sends the rest concurrently, and settles them: sent, retried with exponential backoff, dropped
after PUSH_TTL, failed, or the device pruned when the push service says it is gone.

The guarantee (docs/operations.md): a push is sent at least once while its TTL lasts, unless
skipped; a process that dies after sending and before settling sends it again when its lease
lapses, so a crash can repeat one push once, never lose it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from banter.core import metrics
from banter.core.state import get_state_store
from banter.realtime.dispatch import run_sync
from push.models import Device, PushOutbox
from push.payloads import push_payload
from push.senders import SENDERS, any_configured, sender_for
from push.targets import Push, PushResult, Target

logger = logging.getLogger("banter.push")

# Pushes a user wants at once (a phone wakes for them); the rest may wait for the device's
# next wake-up (RFC 8030 Urgency).
URGENT = frozenset({"mention", "call_incoming"})
BATCH = 50
# Settled rows stay this long for the admin (what was sent, what failed and why).
SETTLED_RETENTION = timedelta(days=7)
PRUNE_EVERY = 600.0  # seconds
PRUNE_BATCH = 1000
LEASE = timedelta(seconds=60)
MAX_BACKOFF = 600.0
CONCURRENCY = 10


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed outbox row and what its send needs, read in the claiming transaction."""

    id: int
    version: int
    user_id: int
    device_id: int
    target: Target
    collapse_key: str
    created_at: datetime
    expires_at: datetime
    attempts: int
    payload: dict[str, Any] | None  # None: nothing to send (read, deleted, do not disturb)
    skip_reason: str = ""

    def push(self) -> Push:
        assert self.payload is not None
        return Push(
            payload=self.payload,
            ttl=max(0, int((self.expires_at - timezone.now()).total_seconds())),
            urgent=self.payload["type"] in URGENT,
            collapse_key=self.collapse_key,
        )


async def run_push_delivery() -> None:
    interval = float(settings.BANTER["PUSH_INTERVAL"])
    await asyncio.sleep(random.uniform(0, interval))  # instances not in lockstep
    pruned_at = 0.0
    try:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    if any_configured():
                        while await deliver_due(session) == BATCH:
                            pass  # a backlog: the next batch at once
                    now = asyncio.get_running_loop().time()
                    if now - pruned_at >= PRUNE_EVERY:
                        pruned_at = now
                        while await run_sync(prune_settled) == PRUNE_BATCH:
                            pass
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("push delivery round failed; retrying in %.1fs", interval)
                await asyncio.sleep(interval)
    finally:
        await close_senders()


async def close_senders() -> None:
    """Close the connections senders keep (APNs' HTTP/2 client) when the loop stops."""
    for sender in SENDERS.values():
        close = getattr(sender, "aclose", None)
        if close is not None:
            try:
                await close()
            except Exception:
                logger.debug("closing a push sender failed", exc_info=True)


async def deliver_due(session: aiohttp.ClientSession, limit: int = BATCH) -> int:
    """One round: claim up to `limit` due pushes, send, settle. Returns how many it claimed."""
    claims = await run_sync(claim_due, limit)
    if not claims:
        return 0
    store = get_state_store()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(claim: Claim) -> None:
        async with gate:
            if claim.payload is None:
                await run_sync(settle_skipped, claim, claim.skip_reason)
            elif await store.connection_count(claim.user_id):
                await run_sync(settle_skipped, claim, "online")
            else:
                sender = sender_for(claim.target.kind)
                if sender is None or not sender.configured():
                    result = PushResult("failed", detail=f"{claim.target.kind} is not configured")
                else:
                    result = await sender.send(session, claim.target, claim.push())
                await run_sync(settle, claim, result)

    await asyncio.gather(*(one(claim) for claim in claims))
    return len(claims)


def prune_settled(now: datetime | None = None) -> int:
    """Delete up to PRUNE_BATCH settled rows older than SETTLED_RETENTION; how many."""
    cutoff = (now or timezone.now()) - SETTLED_RETENTION
    old = list(
        PushOutbox.objects.exclude(status=PushOutbox.Status.PENDING)
        .filter(created_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)[:PRUNE_BATCH]
    )
    if old:
        PushOutbox.objects.filter(pk__in=old).delete()
    return len(old)


def claim_due(limit: int) -> list[Claim]:
    now = timezone.now()
    with transaction.atomic():
        due = PushOutbox.objects.filter(status=PushOutbox.Status.PENDING, due_at__lte=now).filter(
            Q(leased_until__isnull=True) | Q(leased_until__lt=now)
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        rows = list(due.select_related("device", "user").order_by("due_at", "id")[:limit])
        if not rows:
            metrics.PUSH_BACKLOG.set(0)
            return []
        expired = [row.pk for row in rows if row.expires_at <= now]
        if expired:
            PushOutbox.objects.filter(pk__in=expired).update(status=PushOutbox.Status.EXPIRED)
            metrics.PUSHES.labels("expired").inc(len(expired))
        live = [row for row in rows if row.expires_at > now]
        PushOutbox.objects.filter(pk__in=[row.pk for row in live]).update(
            leased_until=now + LEASE, attempts=F("attempts") + 1
        )
        metrics.PUSH_BACKLOG.set(len(rows))
        return [_claim(row) for row in live]


def target_of(device: Device) -> Target:
    return Target(
        kind=device.kind,
        endpoint=device.endpoint,
        p256dh=device.p256dh,
        auth=device.auth,
        token=device.token,
        topic=device.topic,
        sandbox=device.sandbox,
    )


def _claim(row: PushOutbox) -> Claim:
    device = row.device
    payload, reason = push_payload(row)
    return Claim(
        id=row.pk,
        version=row.version,
        user_id=row.user_id,
        device_id=device.pk,
        target=target_of(device),
        collapse_key=row.collapse_key,
        created_at=row.created_at,
        expires_at=row.expires_at,
        attempts=row.attempts + 1,
        payload=payload,
        skip_reason=reason,
    )


def _mine(claim: Claim) -> Any:
    # Only the version claimed: a newer message that replaced it stays pending.
    return PushOutbox.objects.filter(pk=claim.id, version=claim.version)


def settle_skipped(claim: Claim, reason: str) -> None:
    if _mine(claim).update(status=PushOutbox.Status.SKIPPED, leased_until=None, last_error=reason):
        metrics.PUSHES.labels("skipped").inc()
    else:
        _release(claim)


def settle(claim: Claim, result: PushResult) -> None:
    now = timezone.now()
    if result.outcome != "sent":
        metrics.PUSH_FAILURES.labels(claim.target.kind, _reason(result)).inc()
    if result.outcome == "sent":
        if _mine(claim).update(status=PushOutbox.Status.SENT, sent_at=now, leased_until=None):
            metrics.PUSH_DELIVERY_SECONDS.observe((now - claim.created_at).total_seconds())
        else:
            _release(claim)
        Device.objects.filter(pk=claim.device_id).update(last_success_at=now)
        metrics.PUSHES.labels("sent").inc()
    elif result.outcome == "gone":
        # The subscription is dead: the device goes, its pending rows with it.
        Device.objects.filter(pk=claim.device_id).delete()
        metrics.PUSHES.labels("gone").inc()
        logger.info("push device %s removed: %s %s", claim.device_id, result.status, result.detail)
    elif result.outcome == "retry":
        wait = result.retry_after or min(MAX_BACKOFF, 2.0**claim.attempts)
        retry_at = now + timedelta(seconds=wait * random.uniform(1.0, 1.2))
        if retry_at >= claim.expires_at:
            _mine(claim).update(status=PushOutbox.Status.EXPIRED, last_error=_error(result))
            metrics.PUSHES.labels("expired").inc()
        else:
            PushOutbox.objects.filter(pk=claim.id).update(
                due_at=retry_at, leased_until=None, last_error=_error(result)
            )
            metrics.PUSHES.labels("retried").inc()
    else:
        _mine(claim).update(
            status=PushOutbox.Status.FAILED, leased_until=None, last_error=_error(result)
        )
        metrics.PUSHES.labels("failed").inc()
        logger.warning("push %s failed: %s %s", claim.id, result.status, result.detail)


def _release(claim: Claim) -> None:
    PushOutbox.objects.filter(pk=claim.id).update(leased_until=None)


def _reason(result: PushResult) -> str:
    """A bounded label: the HTTP status, or why there was none."""
    if result.status is not None:
        return str(result.status)
    return "endpoint" if result.detail.startswith("endpoint refused") else "network"


def _error(result: PushResult) -> str:
    return f"{result.status or '-'} {result.detail}"[:300]
