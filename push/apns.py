"""Sending one push to an iPhone or iPad through the Apple Push Notification service (APNs):
an HTTP/2 POST to `/3/device/<token>` with Apple's provider authentication token (an ES256
JWT made with the team's .p8 signing key, reused for up to TOKEN_LIFETIME).

APNs speaks only HTTP/2, which aiohttp cannot, so the request goes through httpx
(`http2=True`, over the `h2` library) and the token is made with PyJWT. aioapns was
evaluated and not used: its host and port are class attributes of its private protocol
classes (no argument points it at a local test server), the TLS host name it checks is that
constant too, it keeps its own retry loop (sleeping between attempts, outside the outbox's
backoff), it does not make a new token when APNs answers ExpiredProviderToken, it decodes
each HTTP/2 DATA frame as a whole JSON answer, and it brings pyOpenSSL along.
"""

from __future__ import annotations

import asyncio
import os
import ssl as ssl_module
import time
from collections.abc import Callable
from ssl import SSLContext
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx
import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from push.targets import Push, PushResult, Target

PRODUCTION = "https://api.push.apple.com"
SANDBOX = "https://api.sandbox.push.apple.com"

# Apple refuses a provider token older than an hour, and refreshing it more often than
# every 20 minutes (429 TooManyProviderTokenUpdates): one token serves every send for 50.
TOKEN_LIFETIME = 50 * 60
MIN_TOKEN_REFRESH = 20 * 60
TOKEN_REFUSED = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})
# The device token, or its app, is gone: the device is removed.
GONE_REASONS = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic"})
MAX_COLLAPSE_ID_BYTES = 64
# Pushes that play the notification sound: someone wants this user now.
SOUNDED = frozenset({"mention", "call_incoming", "missed_call"})
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# APNs wants long-lived connections (a new TLS + HTTP/2 handshake per push is what it
# calls a denial of service); the delivery loop sends every PUSH_INTERVAL at most.
LIMITS = httpx.Limits(max_connections=10, keepalive_expiry=300.0)


def device_url(target: Target, base_url: str | None = None) -> str:
    """Where a push to `target` goes: Apple's sandbox host for a development build's token,
    the production one otherwise; `base_url` (a test server or a relay) replaces both."""
    base = base_url or (SANDBOX if target.sandbox else PRODUCTION)
    return f"{base.rstrip('/')}/3/device/{quote(target.token, safe='')}"


def notification(push: Push) -> dict[str, Any]:
    """The JSON body: the alert, badge, sound and thread in `aps`, the payload's other keys
    (type, roomId, messageId, callId) beside it for the app."""
    payload = push.payload
    aps: dict[str, Any] = {
        "alert": {"title": payload.get("title", ""), "body": payload.get("body", "")},
        "badge": payload.get("badge", 0),
        "thread-id": push.collapse_key,  # the room's or call's notifications grouped
    }
    if payload.get("type") in SOUNDED:
        aps["sound"] = "default"
    extra = {k: v for k, v in payload.items() if k not in ("title", "body", "badge")}
    return {"aps": aps, **extra}


def request_headers(push: Push, *, topic: str, token: str, now: float) -> dict[str, str]:
    return {
        "authorization": f"bearer {token}",
        "apns-topic": topic,
        "apns-push-type": "alert",
        "apns-priority": "10" if push.urgent else "5",
        # 0: deliver now or never (APNs keeps nothing); else the last moment to deliver.
        "apns-expiration": str(int(now) + push.ttl) if push.ttl > 0 else "0",
        "apns-collapse-id": collapse_id(push.collapse_key),
    }


def collapse_id(key: str) -> str:
    """At most 64 bytes of UTF-8 (APNs answers BadCollapseId past that), cut on a character."""
    return key.encode()[:MAX_COLLAPSE_ID_BYTES].decode("utf-8", "ignore")


def classify(status: int, reason: str, retry_after: str | None = None) -> PushResult:
    """What an APNs answer means for the outbox (a refused provider token is handled by the
    sender before this)."""
    if status == 200:
        return PushResult("sent", status)
    if status == 410 or (status == 400 and reason in GONE_REASONS):
        return PushResult("gone", status, reason)  # Unregistered: the app was removed
    if status == 429 or status >= 500:
        wait = None
        if retry_after and retry_after.strip().isdigit():
            wait = float(retry_after.strip())
        return PushResult("retry", status, reason, wait)
    # The rest (BadTopic, PayloadTooLarge, BadCertificateEnvironment, ...) would be
    # refused again.
    return PushResult("failed", status, reason)


def load_signing_key(path: str) -> ec.EllipticCurvePrivateKey:
    """The .p8 file from Apple: a PKCS#8 PEM P-256 key."""
    with open(path, "rb") as file:
        key = serialization.load_pem_private_key(file.read(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an EC P-256 key")
    return key


class ProviderToken:
    """Apple's provider authentication token: a JWT `{alg: ES256, kid}` `{iss: team, iat}`
    signed with the .p8 key, made once and reused until TOKEN_LIFETIME (or another key)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._token = ""
        self._issued_at = 0.0
        self._credentials: tuple[str, str, str] = ("", "", "")

    def get(self, key_path: str, key_id: str, team_id: str) -> str:
        """The current token; raises OSError/ValueError if the key cannot be read."""
        now = self._clock()
        credentials = (key_path, key_id, team_id)
        age = now - self._issued_at
        if not self._token or credentials != self._credentials or not 0 <= age < TOKEN_LIFETIME:
            self._token = jwt.encode(
                {"iss": team_id, "iat": int(now)},
                load_signing_key(key_path),
                algorithm="ES256",
                headers={"kid": key_id},
            )
            self._issued_at, self._credentials = now, credentials
        return self._token

    def refused(self, token: str) -> float:
        """APNs refused `token`. 0: get() gives a token worth sending with (a new one, or
        another send's newer one); else the seconds until Apple would accept a new one."""
        if token != self._token:
            return 0.0  # already replaced: concurrent sends make one new token, not many
        age = self._clock() - self._issued_at
        if age < MIN_TOKEN_REFRESH:
            # A young token refused is not cured by a new one (a wrong key id or team id,
            # or a clock off by an hour), and Apple refuses more frequent ones anyway.
            return MIN_TOKEN_REFRESH - age
        self._token = ""
        return 0.0


class ApnsSender:
    """The Sender (push/targets.py) of `apns` devices. `base_url` and `ssl` (the TLS
    context that verifies the server) point it somewhere other than Apple: tests do."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        ssl: SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url
        self._ssl = ssl
        self._clock = clock
        self.provider_token = ProviderToken(clock)
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def configured(self) -> bool:
        banter = settings.BANTER
        key = banter["APNS_KEY"]
        return bool(
            key
            and banter["APNS_KEY_ID"]
            and banter["APNS_TEAM_ID"]
            and os.path.isfile(key)
            and os.access(key, os.R_OK)
        )

    async def send(self, session: aiohttp.ClientSession, target: Target, push: Push) -> PushResult:
        """Deliver one push (the aiohttp session is not used: APNs needs HTTP/2); never
        raises."""
        banter = settings.BANTER
        topic = target.topic or banter["APNS_TOPIC"]
        if not topic:
            return PushResult("failed", detail="no apns-topic: the device has none, nor APNS_TOPIC")
        url = device_url(target, self._base_url or banter["APNS_ENDPOINT"] or None)
        body = orjson.dumps(notification(push))
        for _attempt in range(2):
            try:
                token = self.provider_token.get(
                    banter["APNS_KEY"], banter["APNS_KEY_ID"], banter["APNS_TEAM_ID"]
                )
            except (OSError, ValueError, TypeError, jwt.PyJWTError) as error:
                return PushResult("failed", detail=f"APNS_KEY: {error}"[:300])
            headers = request_headers(push, topic=topic, token=token, now=self._clock())
            try:
                response = await self._http().post(
                    url,
                    content=body,
                    # UTF-8 as sent (httpx would refuse a str header that is not ASCII).
                    headers={name.encode(): value.encode() for name, value in headers.items()},
                )
            except (httpx.HTTPError, OSError) as error:
                return PushResult("retry", detail=f"{type(error).__name__}: {error}"[:300])
            reason = _reason(response)
            if response.status_code == 403 and reason in TOKEN_REFUSED:
                wait = self.provider_token.refused(token)
                if wait == 0:
                    continue  # once more, with the new token
                if reason == "ExpiredProviderToken":
                    return PushResult("retry", 403, reason, wait)
                return PushResult("failed", 403, reason)
            return classify(response.status_code, reason, response.headers.get("retry-after"))
        return PushResult("failed", 403, f"{reason} (a new provider token refused too)")

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = self._client_loop = None

    def _http(self) -> httpx.AsyncClient:
        # One client (one HTTP/2 connection per host, multiplexed) per event loop: its
        # connections belong to the loop that opened them, and this sender is a module-level
        # singleton (push/senders.py) that a test's or a new process's loop may reuse.
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient(
                http1=False,
                http2=True,
                verify=self._verify(),
                timeout=TIMEOUT,
                limits=LIMITS,
                trust_env=False,  # as the Web Push sender's aiohttp session: no proxy variables
            )
            self._client_loop = loop
        return self._client

    def _verify(self) -> SSLContext | bool:
        if self._ssl is not None:
            return self._ssl
        ca_file = settings.BANTER["APNS_CA_FILE"]
        return ssl_module.create_default_context(cafile=ca_file) if ca_file else True


def _reason(response: httpx.Response) -> str:
    """The `reason` of an APNs error answer (`{"reason": "BadDeviceToken"}`), else ""."""
    if response.status_code == 200 or not response.content:
        return ""
    try:
        answer = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return response.text[:200]
    reason = answer.get("reason") if isinstance(answer, dict) else None
    return str(reason)[:200] if reason else ""
