"""Socket authentication: token lookup at CONNECT, expiry notices, refresh, revocation."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict

from django.conf import settings

from banter.accounts.selectors import users_by_id
from banter.accounts.tokens import access_token_current, access_token_verify, token_error
from banter.core.coalesce import Coalescer
from banter.core.errors import BanterError, ErrorCode
from banter.realtime.schema import EdgeSchema, Payload
from banter.realtime.socketio import ConnectRefused

if TYPE_CHECKING:
    from banter.accounts.models import User
    from banter.realtime.dispatch import EventContext
    from banter.realtime.engine import RequestInfo
    from banter.realtime.socketio import Socket


def handshake_token(auth: dict[str, Any] | None, request: RequestInfo) -> str | None:
    """The token from (in order) the CONNECT payload, the Authorization header and, only
    with the deprecated ALLOW_QUERY_TOKEN or on an Engine.IO v3 session (ALLOW_EIO3), the
    handshake's `token` query parameter.

    A query string is written down by every proxy and server access log on the way, and
    kept in browser history: a token there outlives the connection. Off, a query token is
    ignored, so such a connect is refused with auth_required as if it had none. A v3 client
    (socket.io-client 2.x) has no CONNECT payload, and in a browser no headers either."""
    if auth and isinstance(auth.get("token"), str) and auth["token"]:
        return str(auth["token"])
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer " and header[7:].strip():
        return header[7:].strip()
    if settings.BANTER.get("ALLOW_QUERY_TOKEN", False) or _engine_io_v3(request):
        return request.query.get("token") or None
    return None


def _engine_io_v3(request: RequestInfo) -> bool:
    """An Engine.IO v3 session's handshake (the transports open those only with ALLOW_EIO3;
    checked here too, so the query token never counts without it)."""
    return request.query.get("EIO") == "3" and bool(settings.BANTER.get("ALLOW_EIO3", False))


def verify_for_connect(token: str | None) -> tuple[int, dict[str, Any]]:
    """(user_id, claims), or ConnectRefused with the data.code of PROTOCOL.md.

    Without the database; once the user is loaded, `refuse_if_revoked` must follow.
    """
    if token is None:
        raise ConnectRefused("Authentication required", {"code": "auth_required"})
    try:
        return access_token_verify(token)
    except BanterError as error:
        if error.code is ErrorCode.TOKEN_EXPIRED:
            raise ConnectRefused("Token is expired", {"code": "token_expired"}) from None
        raise ConnectRefused("Token is invalid", {"code": "token_invalid"}) from None


def refuse_if_revoked(user: User, claims: dict[str, Any]) -> None:
    """`token_invalid` for an access token issued before the user's sessions were ended
    (logout, deactivation, password change, refresh-token reuse): compared with the user
    row CONNECT loads anyway, so it costs no query."""
    try:
        access_token_current(user, claims)
    except BanterError:
        raise ConnectRefused("Token is invalid", {"code": "token_invalid"}) from None


# The user row, read after the call (never a cached one: CONNECT compares it with the
# token, and a revoke committed before the read must refuse the socket); the reads of a
# connect storm are one query per batch.
load_user = Coalescer(users_by_id)


def schedule_expiry(socket: Socket, exp: float) -> None:
    """Warn with `auth:expiring` shortly before exp; after exp plus a grace, disconnect."""
    cancel_expiry(socket)
    loop = asyncio.get_running_loop()
    now = time.time()
    notice = settings.BANTER["AUTH_EXPIRING_NOTICE"]
    grace = settings.BANTER["AUTH_EXPIRY_GRACE"]
    socket.state["auth_timers"] = (
        loop.call_later(max(0.0, exp - now - notice), _warn, socket, exp),
        loop.call_later(max(0.0, exp - now + grace), _expire, socket),
    )


def cancel_expiry(socket: Socket) -> None:
    for timer in socket.state.pop("auth_timers", ()):
        timer.cancel()


def _warn(socket: Socket, exp: float) -> None:
    socket.emit("auth:expiring", {"exp": int(exp)})


def _expire(socket: Socket) -> None:
    socket.emit("error", {"code": "token_expired", "message": "Token is expired"})
    end_session(socket, "token expired")


def end_session(socket: Socket, reason: str) -> None:
    """Server-side disconnect; closes the transport too when no namespace remains."""
    socket.disconnect(reason)
    if not socket.connection.sockets:
        socket.engine.close(reason)


class TokenExpiryPayload(TypedDict):
    """`auth:expiring` and the `auth:refresh` ack: when the socket's token expires (epoch s)."""

    exp: int


class AuthRefresh(Payload, frozen=True):
    token: str


def _token_required(payload: object = None) -> NoReturn:
    raise BanterError(
        ErrorCode.VALIDATION_ERROR, "token is required", {"fields": {"token": "required"}}
    )


AUTH_REFRESH = EdgeSchema(AuthRefresh, explain=_token_required)


async def auth_refresh(ctx: EventContext, payload: AuthRefresh) -> TokenExpiryPayload:
    """`auth:refresh {token}`: a fresh access token of the same user extends the socket."""
    if not payload.token:
        _token_required()
    user_id, claims = access_token_verify(payload.token)
    if user_id != ctx.user_id:
        raise BanterError(ErrorCode.FORBIDDEN, "Token belongs to another user")
    # The row again, not ctx.user (loaded at CONNECT): a token revoked since then must not
    # extend the socket, though the revoke closing it may still be on its way.
    user = await load_user(user_id)
    if user is None or not user.is_active:
        raise token_error("user_inactive", "User is inactive")
    access_token_current(user, claims)
    schedule_expiry(ctx.socket, float(claims["exp"]))
    return {"exp": int(claims["exp"])}
