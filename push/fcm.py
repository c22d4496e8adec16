"""Sending one push to an Android (or Firebase web/iOS) app through FCM's HTTP v1 API.

Auth is an OAuth2 access token of the Firebase project's service account, from google-auth
(the key file's JWT assertion exchanged at its `token_uri`); the token is cached in the
sender and refreshed, in a worker thread (google-auth is blocking), only when missing, about
to expire or refused with a 401. firebase-admin is not used: it would bring the whole Google
Cloud client stack for one POST, and send it with its own blocking HTTP client.

The request itself goes through the delivery loop's aiohttp session: no redirects followed,
a timeout, at most MAX_ANSWER_BYTES of the answer read. Answers follow FCM's error model
(`{"error": {code, status, message, details: [FcmError {errorCode}, BadRequest ...]}}`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from django.conf import settings
from google.auth import exceptions as google_errors
from google.auth.transport.requests import Request
from google.oauth2 import service_account

from push.targets import Push, PushResult, Target

logger = logging.getLogger("banter.push")

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
MAX_ANSWER_BYTES = 4096
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
# Per token request (google-auth's own default is 120 s, and it tries up to 3 times): a
# hung token endpoint must not hold the claimed pushes past their lease (delivery.LEASE).
TOKEN_TIMEOUT = 10
# FCM's ErrorCode reference: QUOTA_EXCEEDED is retried "with a minimum initial delay of
# 1 minute" when the answer has no Retry-After.
QUOTA_WAIT = 60.0
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def configured() -> bool:
    path = settings.BANTER["FCM_CREDENTIALS"]
    return bool(path) and os.access(path, os.R_OK)


class FcmSender:
    """The Sender (push/targets.py) of `fcm` devices. One per process: it holds the service
    account's credentials and access token for every send."""

    def __init__(self) -> None:
        self._credentials: Any = None  # google.oauth2.service_account.Credentials
        self._credentials_path = ""
        # Refreshes are made one at a time: the thread lock across event loops (and the
        # worker threads they run in), an asyncio lock per loop so the ten concurrent sends
        # of a round wait for one refresh instead of each holding an executor thread.
        self._refresh_lock = threading.Lock()
        self._loop_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def configured(self) -> bool:
        return configured()

    async def send(self, session: aiohttp.ClientSession, target: Target, push: Push) -> PushResult:
        """Deliver `push` to the registration token; never raises."""
        try:
            return await self._send(session, target, push)
        except Exception as error:  # a bug here must not end the delivery round
            logger.exception("FCM send failed unexpectedly")
            return PushResult("failed", detail=f"{type(error).__name__}: {error}"[:300])

    async def _send(self, session: aiohttp.ClientSession, target: Target, push: Push) -> PushResult:
        body = orjson.dumps({"message": message(target.token, push, now=time.time())})
        result = PushResult("failed", detail="not sent")
        # A 401 means our access token was refused (revoked, or expired early): the second
        # attempt is made with a new one. A second 401 goes back to the outbox's backoff.
        for _attempt in range(2):
            try:
                token, project = await self._authorize()
            except (FileNotFoundError, PermissionError, ValueError, KeyError) as error:
                # The key file is missing or not a service account's key.
                return PushResult("failed", detail=f"FCM credentials: {error}"[:300])
            except (google_errors.TransportError, OSError) as error:
                return PushResult("retry", detail=f"FCM token request: {error}"[:300])
            except google_errors.RefreshError as error:
                # Retryable: the token endpoint was unavailable. Otherwise (invalid_grant: a
                # deleted key, a clock far off) every push would get the same answer.
                detail = f"FCM token request: {error}"[:300]
                return PushResult("retry" if error.retryable else "failed", detail=detail)
            result = await _post(session, _send_url(project), token, body)
            if result.status != 401 or result.outcome != "retry":
                return result
            self._forget(token)
        return result

    async def _authorize(self) -> tuple[str, str]:
        """The access token and the project id; a token request only when needed."""
        path = settings.BANTER["FCM_CREDENTIALS"]
        access = self._cached(path)
        if access is None:
            async with self._loop_lock():
                # Checked again: the send this one waited for may have just got a token.
                access = self._cached(path)
                if access is None:
                    access = await asyncio.to_thread(self._refresh, path)
        token, key_project = access
        project = settings.BANTER["FCM_PROJECT_ID"] or key_project
        if not project:
            raise ValueError("no project id: set FCM_PROJECT_ID or use a key file with one")
        return token, project

    def _cached(self, path: str) -> tuple[str, str] | None:
        credentials = self._credentials
        if credentials is None or self._credentials_path != path:
            return None
        token = credentials.token
        # `valid`: a token not within google-auth's margin (minutes) of its expiry.
        if not token or not credentials.valid:
            return None
        return str(token), str(credentials.project_id or "")

    def _refresh(self, path: str) -> tuple[str, str]:
        """In a worker thread: load the key file (again if the setting changed) and get a
        token unless another refresh just got one."""
        with self._refresh_lock:
            if self._credentials is None or self._credentials_path != path:
                self._credentials = service_account.Credentials.from_service_account_file(
                    path, scopes=[SCOPE]
                )
                self._credentials_path = path
            credentials = self._credentials
            if not credentials.valid:
                credentials.refresh(partial(Request(), timeout=TOKEN_TIMEOUT))
            return str(credentials.token), str(credentials.project_id or "")

    def _forget(self, token: str) -> None:
        # Only the token that was refused: a concurrent send may already hold a new one.
        credentials = self._credentials
        if credentials is not None and credentials.token == token:
            credentials.token = None

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._loop_locks.get(loop)
        if lock is None:
            lock = self._loop_locks[loop] = asyncio.Lock()
        return lock


def message(token: str, push: Push, *, now: float) -> dict[str, Any]:
    """The HTTP v1 `message` for one registration token (the v1 API's Message resource)."""
    payload = push.payload
    ttl = max(0, push.ttl)
    badge = payload.get("badge")
    return {
        "token": token,
        # For the app: FCM data is a string-to-string map, so other values are JSON-encoded
        # (roomId 12 -> "12", the app parses them back).
        "data": {key: _data_value(value) for key, value in payload.items() if value is not None},
        # Shown by the system itself while the app is in the background (the app's code runs
        # when it is tapped); `data` reaches the app when it is in the foreground or tapped.
        "notification": {
            "title": str(payload.get("title", "")),
            "body": str(payload.get("body", "")),
        },
        "android": {
            # HIGH wakes a dozing device at once (a mention, a ringing call); NORMAL may wait
            # for its next maintenance window, and does not count against the app's budget
            # of high-priority messages.
            "priority": "HIGH" if push.urgent else "NORMAL",
            # How long FCM keeps it for an offline device: what is left of the push's TTL.
            "ttl": f"{ttl}s",
            # FCM keeps only the newest undelivered message of a collapse key (a room's
            # newest message, a ring replaced by the missed call).
            "collapse_key": push.collapse_key,
            "notification": {
                # A shown notification with the same tag is replaced, not stacked.
                "tag": push.collapse_key,
                # The unread count of the launcher's badge.
                **({"notification_count": badge} if isinstance(badge, int) else {}),
            },
        },
        # For iOS apps on FCM: the same three things in APNs' terms.
        "apns": {
            "headers": {
                "apns-priority": "10" if push.urgent else "5",  # 10: at once; 5: when convenient
                "apns-collapse-id": push.collapse_key[:64],  # APNs allows at most 64 bytes
                # When APNs drops it (a UNIX time); 0: try once, do not store.
                "apns-expiration": str(int(now) + ttl if ttl else 0),
            },
            **({"payload": {"aps": {"badge": badge}}} if isinstance(badge, int) else {}),
        },
        # For Firebase web apps: RFC 8030's headers, as push/webpush.py sends them.
        "webpush": {
            "headers": {
                "TTL": str(ttl),
                "Urgency": "high" if push.urgent else "normal",
                "Topic": push.collapse_key.replace(":", "-")[:32],
            }
        },
    }


def _data_value(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _send_url(project: str) -> str:
    base = str(settings.BANTER["FCM_ENDPOINT"]).rstrip("/")
    return f"{base}/v1/projects/{quote(project, safe='')}/messages:send"


async def _post(session: aiohttp.ClientSession, url: str, token: str, body: bytes) -> PushResult:
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json; charset=UTF-8",
    }
    try:
        async with session.post(
            url, data=body, headers=headers, allow_redirects=False, timeout=TIMEOUT
        ) as response:
            answer = await _read_answer(response)
            return classify(response.status, answer, response.headers.get("Retry-After"))
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        return PushResult("retry", detail=f"{type(error).__name__}: {error}"[:300])


async def _read_answer(response: aiohttp.ClientResponse) -> bytes:
    # `read(n)` returns what has arrived, maybe less than n: an error's JSON (what decides
    # between gone and failed) is read to its end, up to MAX_ANSWER_BYTES.
    answer = bytearray()
    while len(answer) < MAX_ANSWER_BYTES:
        chunk = await response.content.read(MAX_ANSWER_BYTES - len(answer))
        if not chunk:
            break
        answer += chunk
    return bytes(answer)


@dataclass(frozen=True, slots=True)
class FcmError:
    """What an error answer says: the google.rpc status, FCM's errorCode, the message, and
    whether a BadRequest field violation names the registration token."""

    status: str = ""
    error_code: str = ""
    message: str = ""
    about_token: bool = False

    @classmethod
    def parse(cls, answer: bytes) -> FcmError:
        try:
            error = orjson.loads(answer).get("error")
        except (orjson.JSONDecodeError, AttributeError):
            return cls()  # not Google's JSON (a proxy's page, a truncated answer)
        if not isinstance(error, dict):
            return cls()
        error_code, about_token = "", False
        for detail in error.get("details") or ():
            if not isinstance(detail, dict):
                continue
            if detail.get("@type") == _FCM_ERROR:
                error_code = str(detail.get("errorCode", ""))
            elif detail.get("@type") == _BAD_REQUEST:
                violations = detail.get("fieldViolations") or ()
                about_token = any(
                    isinstance(v, dict) and v.get("field") == "message.token" for v in violations
                )
        message = str(error.get("message", ""))
        return cls(
            status=str(error.get("status", "")),
            error_code=error_code,
            message=message,
            about_token=about_token or "registration token" in message.lower(),
        )


def classify(status: int, answer: bytes, retry_after: str | None) -> PushResult:
    """The outcome of an FCM answer (push/targets.py PushResult)."""
    if 200 <= status < 300:
        return PushResult("sent", status)
    error = FcmError.parse(answer)
    detail = (
        " ".join(part for part in (error.error_code or error.status, error.message) if part)
        or answer.decode("utf-8", "replace")
    )[:200]
    code = error.error_code
    # The device is gone only when FCM says so of the token: a 404 without UNREGISTERED (a
    # wrong project id or endpoint, a proxy's page) would otherwise delete every device.
    if code == "UNREGISTERED":
        return PushResult("gone", status, detail)  # the app was uninstalled or the token expired
    if code == "SENDER_ID_MISMATCH":
        return PushResult("gone", status, detail)  # the token belongs to another Firebase project
    if status == 400 and (code or error.status) == "INVALID_ARGUMENT" and error.about_token:
        return PushResult("gone", status, detail)  # not a registration token at all
    if code == "THIRD_PARTY_AUTH_ERROR":
        # A 401 about the project's APNs certificate or web push key, not our access token.
        return PushResult("failed", status, detail)
    if status == 401:
        return PushResult("retry", status, detail)  # our access token: the sender gets another
    if status == 429 or code == "QUOTA_EXCEEDED":
        return PushResult("retry", status, detail, _retry_after(retry_after) or QUOTA_WAIT)
    if status >= 500 or code in ("UNAVAILABLE", "INTERNAL"):
        return PushResult("retry", status, detail, _retry_after(retry_after))
    # 400 about the message, 403 (the service account may not send), a redirect: sending it
    # again would get the same answer.
    return PushResult("failed", status, detail)


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds: delay-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())
