"""A local APNs for tests: it plays api.push.apple.com, so the APNs sender (push/apns.py) is
tested with the real protocol (HTTP/2 over TLS, Apple's provider token) instead of a mock.

* :class:`ApnsService` serves HTTP/2 over TLS on ``https://127.0.0.1:<free port>`` with the
  ``h2`` library on an asyncio loop in a thread of its own, so sync tests and async tests
  (each with its own event loop) can all use it. Its certificate is signed by a throwaway
  test CA; :meth:`ApnsService.client_ssl_context` trusts that CA and nothing else.
* It refuses what APNs refuses (a connection that did not negotiate ``h2``, a bad path,
  a missing or invalid provider token, a missing topic, a bad priority, expiration or
  collapse id, an empty or oversized payload) with Apple's status and ``reason``, records
  every request as a :class:`ReceivedPush`, and answers 200 with an ``apns-id`` header or
  whatever a test scripted with :meth:`ApnsService.answer`.

The provider token is checked with ``cryptography`` directly, not PyJWT: the sender signs
with PyJWT, and checking its tokens with the same code would prove less.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import (
    ConnectionTerminated,
    DataReceived,
    RequestReceived,
    StreamEnded,
    StreamReset,
)
from h2.exceptions import ProtocolError

from tests.push.local_server import run_loop
from tests.push.webpush_service import b64url_decode

KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
#: Apple refuses a provider token issued more than an hour ago.
MAX_TOKEN_AGE = 60 * 60
#: How far in the future an `iat` may be before the token is refused (clock skew).
TOKEN_SKEW = 60
#: APNs payload limit for an alert push.
MAX_PAYLOAD_BYTES = 4096
MAX_COLLAPSE_ID_BYTES = 64
PUSH_TYPES = frozenset(
    {"alert", "background", "voip", "complication", "fileprovider", "mdm", "liveactivity"}
)
PRIORITIES = frozenset({"1", "5", "10"})
_PATH = re.compile(r"/3/device/([^/]*)")
_DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{64,200}")


def write_signing_key(path: Path) -> ec.EllipticCurvePublicKey:
    """A .p8 file as Apple gives it (PKCS#8 PEM, P-256) at `path`; its public key."""
    key = ec.generate_private_key(ec.SECP256R1())
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return key.public_key()


class TokenRefused(Exception):
    """A provider token APNs would refuse; `reason` is Apple's."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(f"{reason}: {why}")
        self.reason = reason


def verify_provider_token(
    token: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    key_id: str,
    team_id: str,
    now: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of an APNs provider token (a compact JWS, ES256), or
    :class:`TokenRefused` with the reason APNs gives."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefused("InvalidProviderToken", "not a compact JWS")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except ValueError as error:
        raise TokenRefused("InvalidProviderToken", str(error)) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRefused("InvalidProviderToken", "header or claims not a JSON object")
    if header.get("alg") != "ES256":
        raise TokenRefused("InvalidProviderToken", f"alg {header.get('alg')!r}, not ES256")
    if header.get("kid") != key_id:
        raise TokenRefused("InvalidProviderToken", f"kid {header.get('kid')!r}")
    if claims.get("iss") != team_id:
        raise TokenRefused("InvalidProviderToken", f"iss {claims.get('iss')!r}")
    if len(signature) != 64:  # JWS ES256: r || s, 32 octets each (not DER)
        raise TokenRefused("InvalidProviderToken", "ES256 signature is not 64 octets")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public_key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise TokenRefused("InvalidProviderToken", "bad signature") from None
    issued = claims.get("iat")
    if not isinstance(issued, int) or isinstance(issued, bool):
        raise TokenRefused("InvalidProviderToken", "iat is not an integer")
    if issued > now + TOKEN_SKEW:
        raise TokenRefused("InvalidProviderToken", "iat in the future")
    if now - issued > MAX_TOKEN_AGE:
        raise TokenRefused("ExpiredProviderToken", f"issued {now - issued:.0f}s ago")
    return header, claims


@dataclass
class ReceivedPush:
    """One request as the service saw it, and how it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    reason: str = ""
    apns_id: str = ""
    token_header: dict[str, Any] | None = None
    token_claims: dict[str, Any] | None = None
    error: str | None = None  # why the service refused it on its own, if it did

    @property
    def device_token(self) -> str:
        match = _PATH.fullmatch(self.path)
        return match.group(1) if match else ""

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)


class TestCertificates:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Banter test CA")])
        ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ca_ski, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        self.server_key = ec.generate_private_key(ec.SECP256R1())
        self.server = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name)
            .public_key(self.server_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )

    def ca_pem(self) -> str:
        return self.ca.public_bytes(serialization.Encoding.PEM).decode()

    def server_context(self, directory: Path) -> ssl.SSLContext:
        """TLS for the server, offering only HTTP/2 (ALPN `h2`), as APNs does."""
        cert_file, key_file = directory / "server.pem", directory / "server.key"
        cert_file.write_bytes(self.server.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            self.server_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        context.set_alpn_protocols(["h2"])
        return context


class ApnsService:
    """APNs on ``https://127.0.0.1:<free port>``, in its own thread. Use ``with
    ApnsService(public_key, directory) as service:``; point the sender at
    :attr:`base_url` with :meth:`client_ssl_context`. Thread-safe."""

    def __init__(
        self,
        public_key: ec.EllipticCurvePublicKey,
        directory: Path,
        *,
        key_id: str = KEY_ID,
        team_id: str = TEAM_ID,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.public_key = public_key
        self.key_id = key_id
        self.team_id = team_id
        self.clock = clock
        self.certificates = TestCertificates()
        self._directory = directory
        self._lock = threading.Lock()
        self._received: list[ReceivedPush] = []
        self._answers: deque[tuple[int, str]] = deque()
        self.refused_connections: list[str] = []
        self._expired_before: float | None = None
        self._connections: set[_Connection] = set()  # touched on the service's loop only
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self._port}"

    def client_ssl_context(self) -> ssl.SSLContext:
        """Verifies the server against the test CA only (host name checked too)."""
        return ssl.create_default_context(cadata=self.certificates.ca_pem())

    def answer(self, status: int, reason: str = "", *, times: int = 1) -> None:
        """Answer the next `times` valid requests with `status` and `{"reason": reason}`."""
        with self._lock:
            self._answers.extend([(status, reason)] * times)

    def expire_tokens_issued_before(self, moment: float) -> None:
        """Answer ExpiredProviderToken to tokens with an `iat` before `moment`, as APNs does
        to a token it judges over an hour old (whatever the sender's clock says)."""
        self._expired_before = moment

    def received(self) -> list[ReceivedPush]:
        with self._lock:
            return list(self._received)

    def start(self) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        context = self.certificates.server_context(self._directory)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=run_loop, args=(loop,), name=f"apns-service-{self._port}", daemon=True
        )
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            self._server = asyncio.run_coroutine_threadsafe(
                loop.create_server(lambda: _Connection(self), sock=sock, ssl=context), loop
            ).result(timeout=10)
        except BaseException:
            sock.close()
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop, thread, server = self._loop, self._thread, self._server
        if loop is None or thread is None:
            return
        if server is not None:
            # On the server's own loop: asyncio's Server is not thread-safe.
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._close(server), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._loop = self._thread = self._server = None

    async def _close(self, server: asyncio.Server) -> None:
        server.close()
        for connection in list(self._connections):
            connection.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def handle(self, stream: _Stream) -> ReceivedPush:
        """Check one request as APNs would, record it and decide the answer."""
        pseudo = {name: value for name, value in stream.headers if name.startswith(":")}
        headers = {name: value for name, value in stream.headers if not name.startswith(":")}
        push = ReceivedPush(
            method=pseudo.get(":method", ""),
            path=pseudo.get(":path", ""),
            headers=headers,
            body=bytes(stream.body),
        )
        push.status, push.reason, push.error = self._check(push, stream.headers)
        if push.error is None:
            with self._lock:
                if self._answers:
                    push.status, push.reason = self._answers.popleft()
        push.apns_id = headers.get("apns-id") or str(uuid.uuid4()).upper()
        with self._lock:
            self._received.append(push)
        return push

    def _check(
        self, push: ReceivedPush, raw_headers: list[tuple[str, str]]
    ) -> tuple[int, str, str | None]:
        names = [name for name, _ in raw_headers]
        if len(names) != len(set(names)):
            return 400, "DuplicateHeaders", "a header sent twice"
        if push.method != "POST":
            return 405, "MethodNotAllowed", f"method {push.method}"
        match = _PATH.fullmatch(push.path)
        if match is None:
            return 404, "BadPath", f"path {push.path!r}"
        if not match.group(1):
            return 400, "MissingDeviceToken", "no device token in the path"
        if not _DEVICE_TOKEN.fullmatch(match.group(1)):
            return 400, "BadDeviceToken", "the device token is not hex"
        authorization = push.headers.get("authorization", "")
        if not authorization:
            return 403, "MissingProviderToken", "no authorization header"
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return 403, "InvalidProviderToken", "authorization is not `bearer <token>`"
        try:
            push.token_header, push.token_claims = verify_provider_token(
                token, self.public_key, key_id=self.key_id, team_id=self.team_id, now=self.clock()
            )
        except TokenRefused as refused:
            return 403, refused.reason, str(refused)
        if self._expired_before is not None and push.token_claims["iat"] < self._expired_before:
            return 403, "ExpiredProviderToken", "issued before the service's expiry moment"
        if not push.headers.get("apns-topic"):
            return 400, "MissingTopic", "no apns-topic"
        if push.headers.get("apns-push-type") not in PUSH_TYPES:
            return 400, "InvalidPushType", f"apns-push-type {push.headers.get('apns-push-type')}"
        if push.headers.get("apns-priority", "10") not in PRIORITIES:
            return 400, "BadPriority", f"apns-priority {push.headers.get('apns-priority')}"
        if not push.headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate", "apns-expiration is not a UNIX time"
        if len(push.headers.get("apns-collapse-id", "").encode()) > MAX_COLLAPSE_ID_BYTES:
            return 400, "BadCollapseId", "apns-collapse-id over 64 bytes"
        if "apns-id" in push.headers:
            try:
                uuid.UUID(push.headers["apns-id"])
            except ValueError:
                return 400, "BadMessageId", "apns-id is not a UUID"
        if not push.body:
            return 400, "PayloadEmpty", "no body"
        if len(push.body) > MAX_PAYLOAD_BYTES:
            return 413, "PayloadTooLarge", f"{len(push.body)} bytes"
        try:
            payload = json.loads(push.body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
            # What APNs answers to a body that is not JSON is not documented.
            return 400, "BadPayload", "the body is not a JSON object with an `aps` object"
        return 200, "", None


class _Connection(asyncio.Protocol):
    """One client connection: HTTP/2 (server side) over the TLS transport."""

    def __init__(self, service: ApnsService) -> None:
        self.service = service
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.streams: dict[int, _Stream] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.service._connections.add(self)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            self.service.refused_connections.append("ALPN did not select h2")
            transport.close()
            return
        self.h2.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.service._connections.discard(self)

    def close(self) -> None:
        self._close()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except ProtocolError:
            self._flush()
            self._close()
            return
        for event in events:
            if isinstance(event, RequestReceived) and event.stream_id is not None:
                headers = [(str(name), str(value)) for name, value in event.headers or ()]
                self.streams[event.stream_id] = _Stream(headers)
            elif isinstance(event, DataReceived) and event.stream_id is not None:
                stream = self.streams.get(event.stream_id)
                if stream is not None and event.data:
                    stream.body += event.data
                self.h2.acknowledge_received_data(
                    event.flow_controlled_length or 0, event.stream_id
                )
            elif isinstance(event, StreamEnded) and event.stream_id is not None:
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None:
                    self._respond(event.stream_id, self.service.handle(stream))
            elif isinstance(event, StreamReset) and event.stream_id is not None:
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, ConnectionTerminated):
                self._flush()
                self._close()
                return
        self._flush()

    def _respond(self, stream_id: int, push: ReceivedPush) -> None:
        headers = [(":status", str(push.status)), ("apns-id", push.apns_id)]
        if push.status == 200:
            self.h2.send_headers(stream_id, headers, end_stream=True)
            return
        answer: dict[str, Any] = {"reason": push.reason}
        if push.status == 410:
            answer["timestamp"] = int(self.service.clock() * 1000)  # when it was last valid
        body = json.dumps(answer).encode()
        headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        self.h2.send_headers(stream_id, headers)
        self.h2.send_data(stream_id, body, end_stream=True)

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(self.h2.data_to_send())

    def _close(self) -> None:
        if self.transport is not None:
            with contextlib.suppress(Exception):
                self.transport.close()
