"""A local FCM for tests: it plays both Google's OAuth 2.0 token endpoint and the FCM HTTP v1
API, so the FCM sender (push/fcm.py) is tested with the real protocol and the real
google-auth token exchange instead of mocks.

* :class:`ServiceAccount` is a Firebase project's service account: an RSA key made here and
  the JSON key file Google's console would download, with ``token_uri`` pointing at the fake.
* :class:`FcmService` is an aiohttp server on 127.0.0.1 in a thread of its own (like
  tests/push/webpush_service.py). ``POST /token`` checks the JWT-bearer grant as Google does
  (RFC 7523: RS256 signed with the account's key, issuer, audience, scope, lifetime) and issues
  access tokens; ``POST /v1/projects/{project}/messages:send`` checks the bearer token and the
  message's shape, records it as a :class:`ReceivedMessage` and answers 200 or the error a
  test configured, in FCM's error model.

The JWT is verified with ``cryptography`` directly, not with google-auth: the sender signs
with google-auth, and checking its assertions with the same code would prove nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.push.local_server import ThreadedAiohttpServer
from tests.push.webpush_service import b64url_decode

#: Google's token endpoint. Google's client libraries put it in the assertion's ``aud``
#: whatever the key file's ``token_uri`` says (google-auth: ``_GOOGLE_OAUTH2_TOKEN_ENDPOINT``),
#: and it is what Google's endpoint requires; in a real key file the two are the same URL.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
#: Google refuses assertions valid for longer than an hour.
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300

#: The google.rpc status FCM gives with each HTTP status.
RPC_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
#: The FCM errorCode's usual HTTP status (FCM's ErrorCode reference).
ERROR_STATUS = {
    "UNREGISTERED": 404,
    "INVALID_ARGUMENT": 400,
    "SENDER_ID_MISMATCH": 403,
    "QUOTA_EXCEEDED": 429,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
    "THIRD_PARTY_AUTH_ERROR": 401,
}

# The Message resource of FCM HTTP v1 (the fields the real API accepts; it refuses others).
_MESSAGE_FIELDS = frozenset(
    {"name", "data", "notification", "android", "webpush", "apns", "fcm_options"}
    | {"token", "topic", "condition"}
)
_NOTIFICATION_FIELDS = frozenset({"title", "body", "image"})
_ANDROID_FIELDS = frozenset(
    {"collapse_key", "priority", "ttl", "restricted_package_name", "data", "notification"}
    | {"fcm_options", "direct_boot_ok", "bandwidth_constrained_ok", "restricted_satellite_ok"}
)
_ANDROID_NOTIFICATION_FIELDS = frozenset(
    {"title", "body", "icon", "color", "sound", "tag", "click_action", "body_loc_key"}
    | {"body_loc_args", "title_loc_key", "title_loc_args", "channel_id", "ticker", "sticky"}
    | {"event_time", "local_only", "notification_priority", "default_sound"}
    | {"default_vibrate_timings", "default_light_settings", "vibrate_timings", "visibility"}
    | {"notification_count", "light_settings", "image", "bypass_proxy_notification", "proxy"}
)
_APNS_FIELDS = frozenset({"headers", "payload", "fcm_options", "live_activity_token"})
_WEBPUSH_FIELDS = frozenset({"headers", "data", "notification", "fcm_options"})
_RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
_DURATION = re.compile(r"[0-9]{1,11}(\.[0-9]{1,9})?s")


@dataclass(frozen=True)
class ServiceAccount:
    """A Firebase project's service account: what its JSON key file holds."""

    project_id: str
    client_email: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey
    token_uri: str

    @classmethod
    def create(cls, token_uri: str, project_id: str = "banter-test") -> ServiceAccount:
        return cls(
            project_id=project_id,
            client_email=f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com",
            private_key_id=uuid.uuid4().hex,
            private_key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
            token_uri=token_uri,
        )

    def key_file(self) -> dict[str, str]:
        """The JSON key file, as Google's console downloads it."""
        pem = self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.key_file()))
        return path


@dataclass
class TokenRequest:
    """One request to ``POST /token``. ``claims`` are set once the signature verified;
    ``error`` says why the grant was refused (``None``: a token was issued)."""

    form: dict[str, str]
    received_at: float
    header: dict[str, Any] | None = None
    claims: dict[str, Any] | None = None
    status: int = 0
    error: str | None = None
    access_token: str | None = None


@dataclass
class ReceivedMessage:
    """One request to ``POST /v1/projects/{project}/messages:send``, whatever the answer.
    ``error`` says why the service refused it (401, 403, 400); it stays ``None`` when every
    check passed, including when the status came from :meth:`FcmService.respond`."""

    project: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float
    json: Any = None
    status: int = 0
    error: str | None = None

    @property
    def message(self) -> dict[str, Any]:
        """The request's ``message`` object."""
        message = self.json["message"] if isinstance(self.json, dict) else None
        if not isinstance(message, dict):
            raise ValueError(f"no message object in {self.body[:200]!r}")
        return message

    @property
    def token(self) -> str:
        """The registration token the message was addressed to."""
        return str(self.message.get("token", ""))


@dataclass(frozen=True)
class _Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    delay: float = 0.0
    chunked: bool = False


@dataclass
class _Responses:
    """The answers configured for one registration token: one-shot ones first, in order."""

    standing: _Answer | None = None
    queued: deque[_Answer] = field(default_factory=deque)

    def next(self) -> _Answer | None:
        return self.queued.popleft() if self.queued else self.standing


class FcmService(ThreadedAiohttpServer):
    """Google's token endpoint and FCM HTTP v1 on ``http://127.0.0.1:<free port>``.

    Use ``with FcmService() as fcm:``; write the key file with ``fcm.account.write(path)``
    and point ``FCM_ENDPOINT`` at :attr:`url`. Thread-safe: inspect from any thread or loop.
    """

    def __init__(self, *, project_id: str = "banter-test", token_lifetime: int = 3600) -> None:
        self.project_id = project_id
        #: ``expires_in`` of the access tokens issued from now on.
        self.token_lifetime = token_lifetime
        super().__init__()
        self._account: ServiceAccount | None = None
        self._condition = threading.Condition()
        self._token_requests: list[TokenRequest] = []
        self._messages: list[ReceivedMessage] = []
        self._valid_tokens: set[str] = set()
        self._responses: dict[str, _Responses] = {}
        self._ids = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------------

    thread_name = "fcm-service"

    def prepare(self) -> None:
        self._account = ServiceAccount.create(self.token_uri, self.project_id)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._handle_token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._handle_send)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    @property
    def account(self) -> ServiceAccount:
        """The project's service account, the only one the token endpoint knows."""
        if self._account is None:
            raise RuntimeError("FcmService is not started")
        return self._account

    # -- configuration and inspection -----------------------------------------------------

    def respond(
        self,
        token: str,
        status: int,
        error_code: str | None = None,
        *,
        message: str = "",
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        times: int | None = None,
        delay: float = 0.0,
        chunked: bool = False,
    ) -> None:
        """Answer well-formed messages to the registration ``token`` with ``status``: an FCM
        error (``{"error": {code, message, status, details: [FcmError {errorCode}]}}``) unless
        2xx; after ``delay`` seconds; ``chunked``: the body in two pieces, a moment apart (as
        a slow network delivers it). From now on, or for the next ``times`` messages."""
        error_details = list(details or [])
        if error_code is not None:
            error_details.insert(0, {"@type": FCM_ERROR, "errorCode": error_code})
        if 200 <= status < 300:
            body: dict[str, Any] = {}
        else:
            body = {
                "error": {
                    "code": status,
                    "message": message or f"{error_code or RPC_STATUS.get(status, status)}",
                    "status": RPC_STATUS.get(status, "UNKNOWN"),
                    **({"details": error_details} if error_details else {}),
                }
            }
        answer = _Answer(status, body, dict(headers or {}), delay, chunked)
        with self._condition:
            responses = self._responses.setdefault(token, _Responses())
            if times is None:
                responses.standing = answer
            else:
                responses.queued.extend([answer] * times)

    def revoke_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401 UNAUTHENTICATED)."""
        with self._condition:
            self._valid_tokens.clear()

    def token_requests(self) -> list[TokenRequest]:
        with self._condition:
            return list(self._token_requests)

    def received(self, token: str | None = None) -> list[ReceivedMessage]:
        """The send requests so far (addressed to ``token`` only, if given), oldest first."""
        with self._condition:
            return [
                m
                for m in self._messages
                if token is None or (isinstance(m.json, dict) and m.token == token)
            ]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until ``count`` send requests were received; returns them all."""
        with self._condition:
            if self._condition.wait_for(lambda: len(self._messages) >= count, timeout):
                return list(self._messages)
            raise TimeoutError(f"expected {count} message(s), got {len(self._messages)}")

    # -- the token endpoint ---------------------------------------------------------------

    async def _handle_token(self, request: web.Request) -> web.Response:
        form = {key: str(value) for key, value in (await request.post()).items()}
        grant = TokenRequest(form=form, received_at=time.time())
        try:
            self._check_grant(grant)
        except _GrantError as refused:
            grant.error = str(refused)
            grant.status = 400
            self._record_grant(grant)
            # Google's token endpoint answers a bad grant like this (RFC 6749 §5.2).
            return web.json_response(
                {"error": refused.code, "error_description": str(refused)}, status=400
            )
        grant.access_token = f"ya29.fake-{next(self._ids)}-{uuid.uuid4().hex}"
        grant.status = 200
        with self._condition:
            self._valid_tokens.add(grant.access_token)
        self._record_grant(grant)
        return web.json_response(
            {
                "access_token": grant.access_token,
                "expires_in": self.token_lifetime,
                "token_type": "Bearer",
            }
        )

    def _check_grant(self, grant: TokenRequest) -> None:
        """RFC 7523 §2.1 and §3 as Google applies them to a service account's assertion."""
        if grant.form.get("grant_type") != JWT_BEARER:
            raise _GrantError(
                "unsupported_grant_type", f"grant_type {grant.form.get('grant_type')!r}"
            )
        parts = grant.form.get("assertion", "").split(".")
        if len(parts) != 3:
            raise _GrantError("invalid_request", "assertion is not a JWS compact token")
        header_b64, claims_b64, signature_b64 = parts
        try:
            header = json.loads(b64url_decode(header_b64))
            signature = b64url_decode(signature_b64)
        except ValueError as exc:
            raise _GrantError("invalid_grant", f"malformed JWT: {exc}") from None
        grant.header = header
        account = self.account
        if header.get("alg") != "RS256":
            raise _GrantError("invalid_grant", f"JWT alg {header.get('alg')!r} is not RS256")
        if header.get("kid") not in (None, account.private_key_id):
            raise _GrantError("invalid_grant", f"JWT kid {header.get('kid')!r} is not the key's")
        try:
            account.private_key.public_key().verify(
                signature,
                f"{header_b64}.{claims_b64}".encode("ascii"),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            raise _GrantError("invalid_grant", "Invalid JWT Signature.") from None
        claims = json.loads(b64url_decode(claims_b64))
        grant.claims = claims
        now = grant.received_at
        if claims.get("iss") != account.client_email:
            raise _GrantError("invalid_grant", f"iss {claims.get('iss')!r} is not the account")
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise _GrantError("invalid_grant", f"aud {claims.get('aud')!r}")
        if FCM_SCOPE not in str(claims.get("scope", "")).split():
            raise _GrantError("invalid_scope", f"scope {claims.get('scope')!r} lacks FCM's")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int):
            raise _GrantError("invalid_grant", "iat and exp must be NumericDates")
        if iat > now + CLOCK_SKEW or exp <= now:
            raise _GrantError("invalid_grant", "Invalid JWT: Token must be a short-lived token")
        if exp - iat > MAX_ASSERTION_LIFETIME:
            raise _GrantError("invalid_grant", "Invalid JWT: lifetime over an hour")

    def _record_grant(self, grant: TokenRequest) -> None:
        with self._condition:
            self._token_requests.append(grant)
            self._condition.notify_all()

    # -- the send endpoint ----------------------------------------------------------------

    async def _handle_send(self, request: web.Request) -> web.StreamResponse:
        received = ReceivedMessage(
            project=request.match_info["project"],
            path=request.path,
            headers={key.lower(): value for key, value in request.headers.items()},
            body=await request.read(),
            received_at=time.time(),
        )
        answer = self._judge(received)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        received.status = answer.status
        with self._condition:
            self._messages.append(received)
            self._condition.notify_all()
        body = answer.body
        if 200 <= answer.status < 300:
            body = {"name": f"projects/{received.project}/messages/{next(self._ids)}"}
        if not answer.chunked:
            return web.json_response(body, status=answer.status, headers=answer.headers)
        raw = json.dumps(body).encode()
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        response.content_type = "application/json"
        await response.prepare(request)
        await response.write(raw[: len(raw) // 2])
        await asyncio.sleep(0.05)
        await response.write(raw[len(raw) // 2 :])
        await response.write_eof()
        return response

    def _judge(self, received: ReceivedMessage) -> _Answer:
        """Check the request as FCM would, then answer: the checks come first, so a sender's
        mistake cannot hide behind a configured error."""
        authorization = received.headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        with self._condition:
            valid = scheme == "Bearer" and token in self._valid_tokens
        if not valid:
            received.error = "UNAUTHENTICATED: no valid OAuth 2 access token"
            return _rpc_error(401, "Request had invalid authentication credentials.")
        if received.project != self.project_id:
            received.error = f"PERMISSION_DENIED: project {received.project!r}"
            return _rpc_error(403, "Permission 'cloudmessaging.messages.create' denied.")
        if not received.headers.get("content-type", "").startswith("application/json"):
            received.error = "INVALID_ARGUMENT: not application/json"
            return _rpc_error(400, "Content-Type must be application/json")
        try:
            received.json = json.loads(received.body)
            problem = _check_message(received.json)
        except ValueError as exc:
            problem = f"Invalid JSON payload received. {exc}"
        if problem is not None:
            received.error = f"INVALID_ARGUMENT: {problem}"
            return _rpc_error(400, problem)
        with self._condition:
            responses = self._responses.get(received.token)
            configured = responses.next() if responses is not None else None
        return configured or _Answer(200, {}, {})


class _GrantError(Exception):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code


def _rpc_error(status: int, message: str) -> _Answer:
    body = {"error": {"code": status, "message": message, "status": RPC_STATUS[status]}}
    return _Answer(status, body, {})


def _check_message(body: Any) -> str | None:
    """The Message resource's rules that FCM enforces with a 400: why it is refused."""
    if not isinstance(body, dict) or set(body) - {"message", "validate_only"}:
        return "the body must be {message, validate_only?}"
    message = body.get("message")
    if not isinstance(message, dict):
        return "message must be an object"
    problem = _unknown("message", message, _MESSAGE_FIELDS)
    targets = [key for key in ("token", "topic", "condition") if message.get(key)]
    if problem is None and len(targets) != 1:
        problem = f"exactly one of token, topic, condition is required, got {targets}"
    data = message.get("data", {})
    if problem is None and (
        not isinstance(data, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items())
    ):
        problem = "data must map strings to strings"
    if problem is None:
        reserved = [k for k in data if k in _RESERVED_DATA_KEYS or k.startswith(("google", "gcm"))]
        problem = f"reserved data keys {reserved}" if reserved else None
    notification = message.get("notification", {})
    problem = problem or _unknown("message.notification", notification, _NOTIFICATION_FIELDS)
    return problem or _check_android(message.get("android")) or _check_headers(message)


def _check_android(android: Any) -> str | None:
    if android is None:
        return None
    problem = _unknown("message.android", android, _ANDROID_FIELDS)
    if problem:
        return problem
    if android.get("priority", "NORMAL") not in ("NORMAL", "HIGH"):
        return f"android.priority {android.get('priority')!r} is not NORMAL or HIGH"
    ttl = android.get("ttl", "0s")
    if not isinstance(ttl, str) or not _DURATION.fullmatch(ttl):
        return f"android.ttl {ttl!r} is not a duration like '3.5s'"
    if not isinstance(android.get("collapse_key", ""), str):
        return "android.collapse_key must be a string"
    notification = android.get("notification", {})
    problem = _unknown("message.android.notification", notification, _ANDROID_NOTIFICATION_FIELDS)
    count = notification.get("notification_count", 0) if isinstance(notification, dict) else 0
    if problem is None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        problem = f"android.notification.notification_count {count!r}"
    return problem


def _check_headers(message: dict[str, Any]) -> str | None:
    for part, fields in (("apns", _APNS_FIELDS), ("webpush", _WEBPUSH_FIELDS)):
        config = message.get(part)
        if config is None:
            continue
        problem = _unknown(f"message.{part}", config, fields)
        if problem:
            return problem
        headers = config.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            return f"{part}.headers must map strings to strings"
    return None


def _unknown(where: str, value: Any, fields: frozenset[str]) -> str | None:
    if not isinstance(value, dict):
        return f"{where} must be an object"
    unknown = sorted(set(value) - fields)
    return (
        f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at '{where}'"
        if unknown
        else None
    )
