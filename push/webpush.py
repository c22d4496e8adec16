"""Sending one Web Push message (RFC 8030): the payload encrypted for the subscription
(RFC 8291 aes128gcm, pywebpush's encoder over http_ece), signed with the server's VAPID key
(RFC 8292, py-vapid), POSTed with aiohttp to the address the endpoint check approved.

pywebpush's own senders are not used for the request: they resolve the host again (a DNS
answer could change after the check), follow redirects, and read any size of answer. Here
the connection goes to the checked address (TLS still verified against the endpoint's host
name), redirects are not followed, and at most MAX_ANSWER_BYTES of an answer are read.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson
from django.conf import settings
from py_vapid import Vapid02
from pywebpush import WebPusher

from push import endpoints
from push.endpoints import EndpointRefused, parse, resolve_async
from push.targets import Push, PushResult, Target

MAX_ANSWER_BYTES = 4096
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
# A VAPID token is reused for many sends; its expiry (at most 24 h, RFC 8292) is refreshed
# long before it ends.
VAPID_LIFETIME = 12 * 3600


def configured() -> bool:
    banter = settings.BANTER
    return bool(banter["VAPID_PUBLIC_KEY"] and banter["VAPID_PRIVATE_KEY"])


def _vapid_headers(origin: str) -> dict[str, str]:
    vapid = Vapid02.from_raw(settings.BANTER["VAPID_PRIVATE_KEY"].encode())
    claims = {
        "sub": settings.BANTER["VAPID_SUBJECT"] or "mailto:push@localhost",
        "aud": origin,
        "exp": int(time.time()) + VAPID_LIFETIME,
    }
    return {str(k): str(v) for k, v in vapid.sign(claims).items()}


def encrypt(subscription: dict[str, Any], payload: dict[str, Any]) -> bytes:
    encoded = WebPusher(subscription).encode(orjson.dumps(payload), "aes128gcm")
    return bytes(encoded["body"])


class WebPushSender:
    """The Sender (push/targets.py) of `webpush` devices."""

    def configured(self) -> bool:
        return configured()

    async def send(self, session: aiohttp.ClientSession, target: Target, push: Push) -> PushResult:
        return await send(
            session,
            target.subscription(),
            push.payload,
            ttl=push.ttl,
            urgency="high" if push.urgent else "normal",
            # RFC 8030 Topic: at most 32 characters of the URL-safe base64 alphabet.
            topic=push.collapse_key.replace(":", "-")[:32],
        )


async def send(
    session: aiohttp.ClientSession,
    subscription: dict[str, Any],
    payload: dict[str, Any],
    *,
    ttl: int,
    urgency: str = "normal",
    topic: str | None = None,
) -> PushResult:
    """Deliver `payload` to one subscription; never raises for the push service's answers."""
    try:
        checked = parse(subscription["endpoint"])
        addresses = await resolve_async(checked)
    except EndpointRefused as refused:
        return PushResult("gone", detail=f"endpoint refused: {refused}")
    origin = _origin(subscription["endpoint"])
    headers = {
        "TTL": str(max(0, ttl)),
        "Content-Encoding": "aes128gcm",
        "Content-Type": "application/octet-stream",
        "Urgency": urgency,
        "Host": _host_header(checked),
        **_vapid_headers(origin),
    }
    if topic:
        headers["Topic"] = topic  # the push service replaces an undelivered one with it
    body = encrypt(subscription, payload)
    try:
        async with session.post(
            _pinned_url(checked, addresses[0]),
            data=body,
            headers=headers,
            allow_redirects=False,
            server_hostname=checked.host if checked.scheme == "https" else None,
            timeout=TIMEOUT,
        ) as response:
            answer = await response.content.read(MAX_ANSWER_BYTES)
            return _classify(response.status, answer, response.headers.get("Retry-After"))
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        return PushResult("retry", detail=f"{type(error).__name__}: {error}"[:300])


def _origin(endpoint: str) -> str:
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def _host_header(target: endpoints.Target) -> str:
    default = 443 if target.scheme == "https" else 80
    return target.host if target.port == default else f"{target.host}:{target.port}"


def _pinned_url(target: endpoints.Target, address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"{target.scheme}://{host}:{target.port}{target.path}"


def _classify(status: int, answer: bytes, retry_after: str | None) -> PushResult:
    detail = answer.decode("utf-8", "replace")[:200]
    if 200 <= status < 300:
        return PushResult("sent", status)
    if status in (404, 410):
        return PushResult("gone", status, detail)  # the subscription expired or was removed
    if status == 429 or status >= 500:
        wait = None
        if retry_after and retry_after.strip().isdigit():
            wait = float(retry_after.strip())
        return PushResult("retry", status, detail, wait)
    # 400 (malformed), 401/403 (VAPID), 413 (too large), a redirect: sending again would
    # get the same answer.
    return PushResult("failed", status, detail)
