"""Inbound event dispatch: table lookup, size and rate checks, handler call, ack or error.

Handlers are `async def handler(ctx, payload) -> ack data` and raise BanterError; the
event's schema, if it has one, turns the payload into a typed value first. This module
turns either outcome into the ack envelope {ok, data} / {ok: false, error}, or into an
`error` event when the client gave no ack callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

from banter.core import metrics
from banter.core.errors import BanterError, ErrorCode, rate_limited
from banter.core.ratelimit import Rate, event_rate_key, rate_for_class
from banter.core.state import get_state_store
from banter.realtime.schema import EdgeSchema, PayloadT

if TYPE_CHECKING:
    from banter.accounts.models import User
    from banter.realtime.socketio import Socket

logger = logging.getLogger("banter.realtime.dispatch")

P = ParamSpec("P")
T = TypeVar("T")


def run_sync(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]:
    """Run ORM/service code in a worker thread, closing stale DB connections around it.

    Not thread-sensitive: sockets' service calls run in parallel on the executor instead
    of queueing behind one shared thread.
    """
    return database_sync_to_async(function, thread_sensitive=False)(*args, **kwargs)


@dataclass(slots=True)
class EventContext:
    """What a handler knows about the caller: the socket, the user, and where from."""

    socket: Socket
    user: User
    client_ip: str
    origin: str | None
    join_group: Callable[[str], Awaitable[None]]
    leave_group: Callable[[str], None]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def user_id(self) -> int:
        return int(self.user.pk)

    def emit(self, event: str, *args: Any) -> None:
        self.socket.emit(event, *args)


Handler = Callable[[EventContext, PayloadT], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class EventSpec(Generic[PayloadT]):
    """One inbound event: its handler, rate class and the schema that types its payload
    before the handler runs (none: the handler gets the decoded JSON as it came)."""

    handler: Handler[PayloadT]
    rate_class: str = "default"
    schema: EdgeSchema[PayloadT] | None = None
    # A failure without an ack callback is also emitted under this name, with the message as
    # `error` too: clients written for another server's event (the seed's `call:error
    # {error}`) see it unchanged.
    error_event: str | None = None


async def dispatch(
    ctx: EventContext,
    table: Mapping[str, EventSpec[Any]],
    event: str,
    args: list[Any],
    ack_id: int | None,
    size: int,
) -> None:
    started = time.perf_counter()
    try:
        data = await _run(ctx, table, event, args, size)
        envelope: dict[str, Any] = {"ok": True, "data": {} if data is None else data}
        outcome = "ok"
    except BanterError as error:
        _log_failure(ctx, event, error)
        envelope = {"ok": False, "error": error.as_dict()}
        outcome = error.code.value
    except Exception:
        logger.exception("handler for %r failed user=%s", event, ctx.user_id)
        envelope = {
            "ok": False,
            "error": BanterError(ErrorCode.INTERNAL_ERROR, "Internal error").as_dict(),
        }
        outcome = ErrorCode.INTERNAL_ERROR.value
    # Bounded label values: names outside the table are all "unknown".
    name = event if event in table else "unknown"
    metrics.EVENTS.inc(name, outcome)
    metrics.EVENT_SECONDS.observe(time.perf_counter() - started, name)
    if ack_id is not None:
        ctx.socket.ack(ack_id, [envelope])
    elif not envelope["ok"]:
        error_body = envelope["error"]
        body = {
            "code": error_body["code"],
            "message": error_body["message"],
            "details": error_body["details"],
            "event": _shown(event),
        }
        ctx.socket.emit("error", body)
        spec = table.get(event)
        if spec is not None and spec.error_event:
            ctx.socket.emit(spec.error_event, {"error": body["message"], **body})


def _shown(event: str) -> str:
    """The event name as echoed back or logged: bounded, and encodable even when the client
    sent a lone surrogate (which would make the error reply itself unencodable)."""
    return event[:64].encode("utf-8", "replace").decode()


async def _run(
    ctx: EventContext, table: Mapping[str, EventSpec[Any]], event: str, args: list[Any], size: int
) -> Any:
    spec = table.get(event)
    # Unknown and oversize events count against the rate limit too: junk is not free to
    # send (an oversize one was read and decoded whole before it could be refused).
    rate_class = spec.rate_class if spec is not None else "default"
    rate = rate_for_class(rate_class)
    decision = await get_state_store().rate_hit(event_rate_key(rate_class, ctx.user_id), rate)
    if not decision.allowed:
        _count_denial(ctx, event, rate_class, rate)
        raise rate_limited(decision.retry_after)
    limit = settings.BANTER["MAX_EVENT_PAYLOAD_BYTES"]
    if size > limit:
        # Each one also counts toward the abuse disconnect, like a denied event: a client
        # that keeps sending them is broken or hostile.
        _count_denial(ctx, event, rate_class, rate)
        raise BanterError(
            ErrorCode.PAYLOAD_TOO_LARGE, "Event payload is too large", {"maxBytes": limit}
        )
    if spec is None:
        raise BanterError(
            ErrorCode.NOT_FOUND, f"Unknown event {_shown(event)!r}", {"event": _shown(event)}
        )
    payload = args[0] if args else None
    if spec.schema is not None:
        payload = spec.schema.parse(payload)
    return await spec.handler(ctx, payload)


def _count_denial(ctx: EventContext, event: str, rate_class: str, rate: Rate) -> None:
    """Disconnect a socket that keeps hammering past its limit (ABUSE_MULTIPLIER x tokens
    denied within one period): answering it costs us, and it ignores retryAfter."""
    now = time.monotonic()
    denials: dict[str, tuple[float, int]] = ctx.state.setdefault("denials", {})
    started, count = denials.get(rate_class, (now, 0))
    if now - started > rate.period:
        started, count = now, 0
    count += 1
    denials[rate_class] = (started, count)
    metrics.RATE_LIMITED.labels(rate_class).inc()
    logger.info(  # %r: a client-chosen name, escaped (see _log_failure)
        "rate limited event=%r class=%s user=%s ip=%s",
        _shown(event),
        rate_class,
        ctx.user_id,
        ctx.client_ip,
    )
    if count >= settings.BANTER["ABUSE_MULTIPLIER"] * rate.tokens:
        logger.warning(
            "abuse disconnect class=%s denied=%d user=%s ip=%s origin=%s",
            rate_class,
            count,
            ctx.user_id,
            ctx.client_ip,
            ctx.origin,
        )
        ctx.socket.emit(
            "error",
            {
                "code": ErrorCode.RATE_LIMITED.value,
                "message": "Too many requests: disconnected",
                "details": {"class": rate_class},
                "event": _shown(event),
            },
        )
        ctx.socket.disconnect("rate limit abuse")


def _log_failure(ctx: EventContext, event: str, error: BanterError) -> None:
    # Never the payload: it may hold message bodies. The name is the client's: %r escapes
    # newlines and terminal escapes in it, so it cannot forge or hide log lines.
    logger.info(
        "event rejected event=%r code=%s user=%s ip=%s origin=%s",
        _shown(event),
        error.code.value,
        ctx.user_id,
        ctx.client_ip,
        ctx.origin,
    )
