"""A local Web Push service for tests: it plays the browser vendor's push service.

The server's Web Push sender can then be tested end to end with the real protocol instead of a
mocked HTTP call: RFC 8030 (the HTTP push request and its headers), RFC 8291 (payload
encryption, the ``aes128gcm`` coding of RFC 8188) and RFC 8292 (VAPID).

* :class:`Subscriber` is a fake browser subscription: its ``subscription()`` is what
  ``PushSubscription.toJSON()`` gives the application, and it can decrypt what it was sent.
* :class:`PushService` is an aiohttp server on 127.0.0.1 running in a thread of its own, so
  sync tests (``requests``) and async tests (aiohttp, another event loop) can both use it. It
  records every request as a :class:`ReceivedPush`, checks VAPID and the push headers like a
  real push service, and answers with whatever status a test configured (201, 404, 410, ...).

The VAPID check is written against ``cryptography`` directly and not with py_vapid: the sender
under test signs with py_vapid (through pywebpush), and checking its tokens with the same code
would prove nothing.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.push.local_server import ThreadedAiohttpServer

#: RFC 8292 §2: "exp" MUST NOT be more than 24 hours from the time of the request.
MAX_VAPID_LIFETIME = 24 * 60 * 60
#: RFC 8030 §7.2 / RFC 8291 §4: a push service need not accept more than 4096 octets of body.
MAX_BODY_BYTES = 4096
#: RFC 8030 §5.3.
URGENCIES = frozenset({"very-low", "low", "normal", "high"})

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")  # RFC 8030 §5.4
_TTL = re.compile(r"[0-9]+")
# aes128gcm header (RFC 8188 §2.1): salt(16) || rs(4) || idlen(1) || keyid(idlen); RFC 8291 §4
# puts the sender's ephemeral public key (65 octets, uncompressed) in keyid.
_ECE_HEADER = 16 + 4 + 1
_ECE_KEYID = 65
_ECE_MIN_RECORD = 16 + 1  # the AEAD tag and the padding delimiter


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, the encoding of every key and token in Web Push."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, allow_padding: bool = False) -> bytes:
    """Strict base64url: JWS (RFC 7515 §2) forbids padding and the ``+``/``/`` alphabet, so a
    sender emitting those is caught here instead of passing thanks to a lenient decoder."""
    if allow_padding:
        text = text.rstrip("=")
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url (only A-Z a-z 0-9 - _ without padding)")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError(f"not base64url: {exc}") from None


@dataclass(frozen=True)
class Subscriber:
    """A fake browser subscription (the user agent's side of RFC 8291).

    It holds the keys a browser keeps for one ``PushSubscription``, so a test can hand the
    server a real subscription and later check that only this subscriber can read the message.
    """

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes

    @classmethod
    def create(cls, endpoint: str) -> Subscriber:
        """A new subscription on ``endpoint`` with a fresh P-256 key pair and auth secret."""
        return cls(
            endpoint=endpoint,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
        )

    @property
    def p256dh(self) -> str:
        """The public key as the browser publishes it (uncompressed point, base64url)."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url_encode(point)

    @property
    def auth(self) -> str:
        """The auth secret as the browser publishes it (16 octets, base64url)."""
        return b64url_encode(self.auth_secret)

    def subscription(self) -> dict[str, Any]:
        """Exactly what ``PushSubscription.toJSON()`` gives the application (what the server
        stores and passes to its sender)."""
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}

    def decrypt(self, body: bytes) -> bytes:
        """Decrypt an RFC 8291 ``aes128gcm`` body as the browser would (raises if it was not
        encrypted for this subscription)."""
        plaintext: bytes = http_ece.decrypt(
            body,
            private_key=self.private_key,
            auth_secret=self.auth_secret,
            version="aes128gcm",
        )
        return plaintext


@dataclass
class ReceivedPush:
    """One request to ``POST /push/{name}``, recorded whatever the service answered.

    ``vapid_public_key`` is the ``k`` the sender presented (re-encoded without padding) and
    ``vapid_claims`` the JWT claims, set once the signature verified (even if a claim was then
    rejected, so a test can see what was wrong). ``error`` says why the service refused the
    request (401, 400, 413); it stays ``None`` when every check passed, including when the
    status came from :meth:`PushService.respond`.
    """

    name: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    vapid_claims: dict[str, Any] | None = None
    vapid_public_key: str | None = None
    status: int = 0
    error: str | None = None

    @property
    def ttl(self) -> int | None:
        """The ``TTL`` header in seconds, when present and well-formed."""
        value = self.headers.get("ttl", "").strip()
        return int(value) if _TTL.fullmatch(value) else None

    def decrypt(self, subscriber: Subscriber) -> dict[str, Any]:
        """The JSON object the sender encrypted for ``subscriber``."""
        payload = json.loads(subscriber.decrypt(self.body))
        if not isinstance(payload, dict):
            raise ValueError(f"push payload is not a JSON object: {payload!r}")
        return payload


class VapidError(Exception):
    """The request's VAPID authentication is missing or invalid (the service answers 401)."""


@dataclass
class _Responses:
    """The statuses configured for one subscription name: one-shot ones first, in order."""

    standing: tuple[int, dict[str, str]] = (201, {})
    queued: deque[tuple[int, dict[str, str]]] = field(default_factory=deque)

    def next(self) -> tuple[int, dict[str, str]]:
        return self.queued.popleft() if self.queued else self.standing


class PushService(ThreadedAiohttpServer):
    """The push service of RFC 8030, on ``http://127.0.0.1:<free port>``, in its own thread.

    Use ``with PushService() as service:`` (or ``start()``/``stop()``); hand the server
    ``Subscriber.create(service.endpoint("alice")).subscription()``; then inspect
    :meth:`received` or wait with :meth:`wait_for` / :meth:`wait_for_async`. All methods are
    thread-safe and may be called from any thread or event loop.
    """

    def __init__(self, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        #: When set (base64url), VAPID must also use this application server key, as for a
        #: subscription made with ``applicationServerKey`` (RFC 8292 §4).
        self.expected_vapid_public_key: str | None = None
        super().__init__()
        self.max_body_bytes = max_body_bytes
        self._condition = threading.Condition()
        self._pushes: list[ReceivedPush] = []
        self._responses: dict[str, _Responses] = {}
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    # -- lifecycle -------------------------------------------------------------------------

    thread_name = "push-service"

    def endpoint(self, name: str) -> str:
        """The push endpoint of the subscription called ``name`` (on :attr:`url`, the
        service's origin and so the VAPID ``aud``)."""
        return f"{self.url}/push/{name}"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/push/{name}", self._handle_push)

    # -- configuration and inspection -----------------------------------------------------

    def respond(
        self,
        name: str,
        status: int,
        *,
        times: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer requests for ``name`` that pass the checks with ``status`` (and ``headers``,
        e.g. ``Retry-After`` with a 429): from now on, or only for the next ``times`` requests,
        after which the standing status (201 unless set) applies again. One-shot statuses are
        used in the order they were configured."""
        if not 100 <= status <= 599:
            raise ValueError(f"not an HTTP status: {status}")
        if times is not None and times < 1:
            raise ValueError("times must be at least 1")
        answer = (status, dict(headers or {}))
        with self._condition:
            responses = self._responses.setdefault(name, _Responses())
            if times is None:
                responses.standing = answer
            else:
                responses.queued.extend([answer] * times)

    def received(self, name: str | None = None) -> list[ReceivedPush]:
        """The requests received so far (for ``name`` only, if given), oldest first."""
        with self._condition:
            return [push for push in self._pushes if name is None or push.name == name]

    def clear(self) -> None:
        """Forget the recorded requests and configured statuses (to reuse one service)."""
        with self._condition:
            self._pushes.clear()
            self._responses.clear()

    def wait_for(
        self, count: int, timeout: float = 10.0, name: str | None = None
    ) -> list[ReceivedPush]:
        """Block until ``count`` requests (for ``name``, if given) were received; returns them
        all. Raises :class:`TimeoutError` after ``timeout`` seconds."""
        with self._condition:
            if self._condition.wait_for(lambda: len(self.received(name)) >= count, timeout):
                return self.received(name)
            raise TimeoutError(self._timeout_message(count, timeout, name))

    async def wait_for_async(
        self, count: int, timeout: float = 10.0, name: str | None = None
    ) -> list[ReceivedPush]:
        """:meth:`wait_for` for async tests: waits without blocking the caller's loop."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._condition:
            self._async_waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    # Clear before checking: a push recorded after the check sets the event
                    # through call_soon_threadsafe, so no wake-up is lost.
                    event.clear()
                    pushes = self.received(name)
                    if len(pushes) >= count:
                        return pushes
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(self._timeout_message(count, timeout, name)) from None
        finally:
            with self._condition:
                self._async_waiters.remove(waiter)

    def _timeout_message(self, count: int, timeout: float, name: str | None) -> str:
        pushes = self.received(name)
        seen = ", ".join(f"{p.name}: {p.status} {p.error or ''}".strip() for p in pushes)
        target = f" for {name!r}" if name is not None else ""
        return f"expected {count} push(es){target} within {timeout}s, got {len(pushes)}: [{seen}]"

    def _record(self, push: ReceivedPush) -> None:
        with self._condition:
            self._pushes.append(push)
            self._condition.notify_all()
            for loop, event in self._async_waiters:
                # RuntimeError: that test's loop is closed, so nobody is waiting any more.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(event.set)

    # -- the push endpoint ----------------------------------------------------------------

    async def _handle_push(self, request: web.Request) -> web.Response:
        push = ReceivedPush(
            name=request.match_info["name"],
            headers={key.lower(): value for key, value in request.headers.items()},
            body=await request.read(),
            received_at=time.time(),
        )
        response = self._judge(push)
        push.status = response.status
        self._record(push)
        return response

    def _judge(self, push: ReceivedPush) -> web.Response:
        """Check the request as a real push service would, then answer. The checks come
        before the configured status, so a sender's mistake cannot hide behind a 410."""
        try:
            self._verify_vapid(push)
        except VapidError as exc:
            push.error = f"VAPID: {exc}"
            return _error(401, push.error, {"WWW-Authenticate": "vapid"})
        problem = _check_message(push.headers, push.body, self.max_body_bytes)
        if problem is not None:
            push.error = problem[1]
            return _error(*problem)
        with self._condition:
            status, headers = self._responses.setdefault(push.name, _Responses()).next()
        if status >= 300:
            return _error(status, f"status configured for {push.name!r}", headers)
        headers = {
            "Location": f"{self.url}/message/{uuid.uuid4().hex}",  # RFC 8030 §5
            "TTL": str(push.ttl),
            **headers,
        }
        return web.Response(status=status, headers=headers)

    def _verify_vapid(self, push: ReceivedPush) -> None:
        """RFC 8292: an ES256 JWT signed with the key ``k``, for this origin, not expired and
        valid at most 24 hours, naming a contact."""
        token, key_text = _parse_authorization(push.headers)
        try:
            key_bytes = b64url_decode(key_text, allow_padding=True)
        except ValueError as exc:
            raise VapidError(f"k: {exc}") from None
        push.vapid_public_key = b64url_encode(key_bytes)
        push.vapid_claims = _verify_jwt(token, _load_public_key(key_bytes))
        _check_claims(push.vapid_claims, audience=self.url, now=push.received_at)
        if self.expected_vapid_public_key is not None:
            expected = b64url_decode(self.expected_vapid_public_key, allow_padding=True)
            if key_bytes != expected:
                raise VapidError(
                    f"k {push.vapid_public_key} is not the subscription's application server "
                    f"key {b64url_encode(expected)}"
                )


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """An error answer shaped like Mozilla autopush's, whose message pywebpush puts in its
    exception, so a failing test says why."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    body = {"code": status, "error": reason, "message": message}
    return web.json_response(body, status=status, headers=dict(headers or {}))


def _parse_authorization(headers: Mapping[str, str]) -> tuple[str, str]:
    """The JWT and the public key from ``Authorization: vapid t=<JWT>, k=<key>`` (RFC 8292
    §3), or from ``Authorization: WebPush <JWT>`` plus ``Crypto-Key: p256ecdsa=<key>`` (the
    draft that older senders still use)."""
    authorization = headers.get("authorization", "").strip()
    if not authorization:
        raise VapidError("no Authorization header")
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() == "vapid":
        params: dict[str, str] = {}
        for param in rest.split(","):
            key, sep, value = param.partition("=")
            if not sep:
                raise VapidError(f"malformed auth-param {param.strip()!r}")
            params[key.strip().lower()] = value.strip().strip('"')
        missing = [key for key in ("t", "k") if not params.get(key)]
        if missing:
            raise VapidError(f"vapid scheme without {' and '.join(missing)}")
        return params["t"], params["k"]
    if scheme.lower() == "webpush":
        for param in re.split(r"[;,]", headers.get("crypto-key", "")):
            key, _, value = param.partition("=")
            if key.strip().lower() == "p256ecdsa" and value.strip():
                return rest.strip(), value.strip().strip('"')
        raise VapidError("WebPush scheme without a Crypto-Key: p256ecdsa=<key> header")
    raise VapidError(f"unsupported Authorization scheme {scheme!r} (expected vapid)")


def _load_public_key(raw: bytes) -> ec.EllipticCurvePublicKey:
    """``k`` must be an uncompressed P-256 point (RFC 8292 §3.2), 65 octets from 0x04."""
    if len(raw) != 65 or raw[0] != 0x04:
        raise VapidError(f"k is not an uncompressed P-256 point ({len(raw)} octets)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise VapidError("k is not a point on P-256") from None


def _decode_json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(segment))
    except ValueError as exc:  # also json.JSONDecodeError and UnicodeDecodeError
        raise VapidError(f"JWT {what}: {exc}") from None
    if not isinstance(value, dict):
        raise VapidError(f"JWT {what} is not a JSON object")
    return value


def _verify_jwt(token: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """Verify a JWS compact ES256 token (RFC 7515, RFC 7518 §3.4) and return its claims."""
    parts = token.split(".")
    if len(parts) != 3:
        raise VapidError(f"JWT has {len(parts)} parts, not 3")
    header_b64, claims_b64, signature_b64 = parts
    header = _decode_json_object(header_b64, "header")
    if header.get("alg") != "ES256":
        raise VapidError(f"JWT alg is {header.get('alg')!r}, not 'ES256'")
    if header.get("typ", "JWT") != "JWT":
        raise VapidError(f"JWT typ is {header.get('typ')!r}, not 'JWT'")
    try:
        signature = b64url_decode(signature_b64)
    except ValueError as exc:
        raise VapidError(f"JWT signature: {exc}") from None
    if len(signature) != 64:  # JWS ES256 is r || s, 32 octets each, not DER
        raise VapidError(f"JWT signature is {len(signature)} octets, not 64 (r || s)")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public_key.verify(
            der, f"{header_b64}.{claims_b64}".encode("ascii"), ec.ECDSA(hashes.SHA256())
        )
    except InvalidSignature:
        raise VapidError("JWT signature does not verify with k") from None
    return _decode_json_object(claims_b64, "claims")


def _check_claims(claims: Mapping[str, Any], *, audience: str, now: float) -> None:
    """RFC 8292 §2: ``aud`` is the push service's origin, ``exp`` is in the future but at
    most 24 hours away, ``sub`` is a ``mailto:`` or ``https:`` contact."""
    aud = claims.get("aud")
    if aud != audience:
        raise VapidError(f"aud {aud!r} is not this push service's origin {audience!r}")
    exp = claims.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        raise VapidError(f"exp {exp!r} is not a NumericDate")
    if exp <= now:
        raise VapidError(f"exp {exp} is in the past (now {int(now)})")
    if exp > now + MAX_VAPID_LIFETIME:
        raise VapidError(f"exp {exp} is more than 24 hours ahead (now {int(now)})")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not _is_contact(sub):
        raise VapidError(f"sub {sub!r} is not a mailto: or https: URL")


def _is_contact(sub: str) -> bool:
    url = urlsplit(sub)
    if url.scheme == "mailto":
        local, at, domain = url.path.rpartition("@")
        return bool(local and at and domain)
    return url.scheme == "https" and bool(url.hostname)


def _check_message(
    headers: Mapping[str, str], body: bytes, max_body_bytes: int
) -> tuple[int, str] | None:
    """RFC 8030 headers and the RFC 8291 body as far as a push service can see it (it cannot
    decrypt): ``(status, reason)`` when the request must be refused."""
    ttl = headers.get("ttl")
    if ttl is None:
        return 400, "no TTL header (RFC 8030 §5.2)"
    if not _TTL.fullmatch(ttl.strip()):
        return 400, f"TTL {ttl!r} is not a non-negative integer"
    urgency = headers.get("urgency")
    if urgency is not None and urgency.strip().lower() not in URGENCIES:
        return 400, f"Urgency {urgency!r} is not one of {sorted(URGENCIES)}"
    topic = headers.get("topic")
    if topic is not None and not _TOPIC.fullmatch(topic):
        return 400, f"Topic {topic!r} is not 1 to 32 base64url characters"
    encoding = headers.get("content-encoding")
    if encoding is None and not body:
        return None  # a push message without payload needs no encryption (RFC 8030 §5)
    if encoding is None:
        return 400, "no Content-Encoding header (expected aes128gcm)"
    if encoding.strip().lower() != "aes128gcm":
        return 400, f"Content-Encoding {encoding!r} is not aes128gcm (RFC 8291)"
    if len(body) > max_body_bytes:
        return 413, f"body of {len(body)} octets exceeds {max_body_bytes}"
    return _check_aes128gcm(body)


def _check_aes128gcm(body: bytes) -> tuple[int, str] | None:
    """The aes128gcm header must carry the sender's ephemeral key as keyid (RFC 8291 §4)."""
    if len(body) < _ECE_HEADER:
        return 400, f"aes128gcm body of {len(body)} octets has no header"
    record_size = int.from_bytes(body[16:20], "big")
    key_id = body[_ECE_HEADER : _ECE_HEADER + body[20]]
    if record_size < 18:
        return 400, f"aes128gcm record size {record_size} is below 18"
    if body[20] != _ECE_KEYID or len(key_id) != _ECE_KEYID or key_id[0] != 0x04:
        return 400, "aes128gcm keyid is not the sender's uncompressed P-256 public key"
    if len(body) < _ECE_HEADER + _ECE_KEYID + _ECE_MIN_RECORD:
        return 400, "aes128gcm body has no complete record"
    return None
