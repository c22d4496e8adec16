"""Who may open the Admin UI's namespace: its login, a session it was given, or a staff token.

The UI sends `{username, password}` in the CONNECT auth, and after a login keeps the
`session` id the server emitted and sends `{sessionId}` on its next visit. A staff user's
access token (`{token}`) logs in too, with the main namespace's token checks. Anything else
is refused with "invalid credentials", the message on which the UI shows its login form.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core import signing

from banter.core.ratelimit import Rate
from banter.core.state import get_state_store
from banter.realtime import auth
from banter.realtime.socketio import ConnectRefused

if TYPE_CHECKING:
    from banter.realtime.engine import RequestInfo

logger = logging.getLogger("banter.realtime.admin_ui")

INVALID = "invalid credentials"  # the UI shows its login form on this message
# Login attempts per client address, every kind counted (a password is a PBKDF2 check in a
# worker thread: answering a guess costs us far more than the guess costs its sender).
LOGIN_RATE = Rate(20, 60.0, 20)
# A session id the UI keeps in localStorage: valid this long after the login that issued it,
# and only while the login and password hash are the ones that issued it.
SESSION_MAX_AGE = 12 * 3600
_SESSION_SALT = "banter.admin_ui.session"


@dataclass(frozen=True, slots=True)
class AdminLogin:
    """An accepted Admin UI login: who (for the logs), and what the namespace must do."""

    identity: str  # "login:<username>" or "staff:<user id>"
    session_id: str | None = None  # emitted to the UI as `session` (password logins)
    user_id: int | None = None  # a staff token's user: revoked with the user's sessions
    expires: float | None = None  # a staff token's exp: the socket ends with it


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    """The configured login (ADMIN_UI_USERNAME, ADMIN_UI_PASSWORD_HASH); either unset: only
    staff tokens log in."""

    username: str
    password_hash: str

    @classmethod
    def from_settings(cls) -> AdminCredentials:
        config = settings.BANTER
        credentials = cls(config["ADMIN_UI_USERNAME"], config["ADMIN_UI_PASSWORD_HASH"])
        credentials.warn_if_unusable()
        return credentials

    @property
    def password_enabled(self) -> bool:
        return bool(self.username and self.password_hash)

    def warn_if_unusable(self) -> None:
        if bool(self.username) != bool(self.password_hash):
            logger.warning(
                "ADMIN_UI_USERNAME and ADMIN_UI_PASSWORD_HASH must both be set for the Admin "
                "UI's password login; only staff tokens log in"
            )
        elif self.password_hash:
            try:
                identify_hasher(self.password_hash)
            except ValueError:
                logger.error(
                    "ADMIN_UI_PASSWORD_HASH is not a Django password hash (make one with "
                    "`manage.py admin_ui_password`): the password login always fails"
                )

    def _session_salt(self) -> str:
        # Changing the login or the password ends every session issued before.
        fingerprint = hashlib.sha256(f"{self.username}\0{self.password_hash}".encode())
        return f"{_SESSION_SALT}.{fingerprint.hexdigest()[:16]}"

    def issue_session(self) -> str:
        return signing.dumps({"u": self.username}, salt=self._session_salt(), compress=True)

    def session_valid(self, session_id: str) -> bool:
        if not self.password_enabled:
            return False
        try:
            value = signing.loads(session_id, salt=self._session_salt(), max_age=SESSION_MAX_AGE)
        except signing.BadSignature:
            return False
        return isinstance(value, dict) and value.get("u") == self.username

    def password_valid(self, username: str, password: str) -> bool:
        """Constant time in what it compares: the hash is checked even for a wrong username,
        so a reply's timing does not tell whether the username was right."""
        if not self.password_enabled:
            return False
        name_ok = hmac.compare_digest(username.encode(), self.username.encode())
        password_ok = check_password(password, self.password_hash)
        return name_ok and password_ok


async def authenticate(
    payload: dict[str, Any] | None, request: RequestInfo, credentials: AdminCredentials
) -> AdminLogin:
    """The login of a CONNECT to the admin namespace, or ConnectRefused."""
    given = payload if isinstance(payload, dict) else {}
    username, password = given.get("username"), given.get("password")
    session_id, token = given.get("sessionId"), given.get("token")
    if not any(isinstance(value, str) and value for value in (username, session_id, token)):
        raise ConnectRefused(INVALID, {"code": "auth_required"})
    decision = await get_state_store().rate_hit(f"admin-login:{request.client_ip}", LOGIN_RATE)
    if not decision.allowed:
        raise ConnectRefused(
            "Too many login attempts",
            {"code": "rate_limited", "retryAfter": round(decision.retry_after, 1)},
        )
    if isinstance(session_id, str) and session_id and credentials.session_valid(session_id):
        return AdminLogin(identity=f"login:{credentials.username}")
    if isinstance(username, str) and username:
        # PBKDF2 takes a good part of a second: off the event loop.
        valid = await asyncio.to_thread(
            credentials.password_valid, username, password if isinstance(password, str) else ""
        )
        if valid:
            return AdminLogin(
                identity=f"login:{credentials.username}", session_id=credentials.issue_session()
            )
        raise ConnectRefused(INVALID, {"code": "invalid_credentials"})
    if isinstance(token, str) and token:
        return await _staff_token(token)
    raise ConnectRefused(INVALID, {"code": "invalid_credentials"})


async def _staff_token(token: str) -> AdminLogin:
    """The main namespace's token checks (signature, expiry, revocation, active user), and
    the user must be staff."""
    try:
        user_id, claims = auth.verify_for_connect(token)
    except ConnectRefused as refused:
        raise ConnectRefused(INVALID, refused.data) from None
    user = await auth.load_user(user_id)
    if user is None:
        raise ConnectRefused(INVALID, {"code": "token_invalid"})
    if not user.is_active:
        raise ConnectRefused(INVALID, {"code": "user_inactive"})
    try:
        auth.refuse_if_revoked(user, claims)
    except ConnectRefused as refused:
        raise ConnectRefused(INVALID, refused.data) from None
    if not user.is_staff:
        raise ConnectRefused(INVALID, {"code": "forbidden"})
    return AdminLogin(identity=f"staff:{user_id}", user_id=user_id, expires=float(claims["exp"]))
