"""Dispatch: every outcome of a handler becomes an ack envelope or an `error` event."""

from __future__ import annotations

from typing import Any

import pytest

from banter.core.errors import BanterError, ErrorCode
from banter.core.ratelimit import get_rate_limiter, parse_rate
from banter.realtime.dispatch import EventContext, EventSpec, dispatch


class FakeSocket:
    def __init__(self) -> None:
        self.acks: list[tuple[int, list[Any]]] = []
        self.emitted: list[tuple[str, tuple[Any, ...]]] = []
        self.disconnected: str | None = None

    def ack(self, ack_id: int, args: list[Any]) -> None:
        self.acks.append((ack_id, args))

    def emit(self, event: str, *args: Any) -> None:
        self.emitted.append((event, args))

    def disconnect(self, reason: str = "") -> None:
        self.disconnected = reason


class FakeUser:
    pk = 7


def make_ctx() -> tuple[EventContext, FakeSocket]:
    socket = FakeSocket()

    async def join(group: str) -> None:
        return None

    ctx = EventContext(
        socket=socket,  # type: ignore[arg-type]
        user=FakeUser(),  # type: ignore[arg-type]
        client_ip="127.0.0.1",
        origin=None,
        join_group=join,
        leave_group=lambda group: None,
    )
    return ctx, socket


async def echo(ctx: EventContext, payload: Any) -> Any:
    return {"echo": payload}


async def refuse(ctx: EventContext, payload: Any) -> Any:
    raise BanterError(ErrorCode.FORBIDDEN, "no")


async def explode(ctx: EventContext, payload: Any) -> Any:
    raise RuntimeError("bug")


TABLE = {
    "echo": EventSpec(echo),
    "refuse": EventSpec(refuse),
    "explode": EventSpec(explode),
    "limited": EventSpec(echo, "tight"),
    "seed:refuse": EventSpec(refuse, error_event="seed:error"),
}


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "MAX_EVENT_PAYLOAD_BYTES": 100,
        "RATE_LIMITS": {"default": "1000/60", "tight": "2/60/2"},
    }
    get_rate_limiter().reset()


async def test_success_is_acked_with_data() -> None:
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "echo", [{"a": 1}], 5, 10)
    assert socket.acks == [(5, [{"ok": True, "data": {"echo": {"a": 1}}}])]


async def test_banter_error_is_acked_with_its_code() -> None:
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "refuse", [], 1, 10)
    assert socket.acks == [
        (1, [{"ok": False, "error": {"code": "forbidden", "message": "no", "details": {}}}])
    ]


async def test_handler_crash_is_internal_error_not_a_disconnect() -> None:
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "explode", [], 2, 10)
    assert socket.acks[0][1][0]["error"]["code"] == "internal_error"
    assert "bug" not in str(socket.acks)  # internals are logged, not sent


async def test_without_ack_failures_become_error_events() -> None:
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "refuse", [], None, 10)
    await dispatch(ctx, TABLE, "echo", [1], None, 10)  # success without ack: nothing sent
    assert socket.acks == []
    assert socket.emitted == [
        ("error", ({"code": "forbidden", "message": "no", "details": {}, "event": "refuse"},))
    ]


async def test_an_event_may_also_name_its_own_error_event() -> None:
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "seed:refuse", [], None, 10)
    await dispatch(ctx, TABLE, "seed:refuse", [], 3, 10)  # with an ack: only the ack
    body = {"code": "forbidden", "message": "no", "details": {}, "event": "seed:refuse"}
    assert socket.emitted == [("error", (body,)), ("seed:error", ({"error": "no", **body},))]
    assert len(socket.acks) == 1


async def test_unknown_event_and_oversize_payload() -> None:
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "nope", [], 1, 10)
    await dispatch(ctx, TABLE, "echo", ["x" * 200], 2, 201)
    assert socket.acks[0][1][0]["error"]["code"] == "not_found"
    assert socket.acks[1][1][0]["error"]["code"] == "payload_too_large"


async def test_rate_limit_answers_rate_limited_with_retry_after() -> None:
    ctx, socket = make_ctx()
    for ack_id in range(3):
        await dispatch(ctx, TABLE, "limited", [], ack_id, 10)
    outcomes = [args[0]["ok"] for _, args in socket.acks]
    assert outcomes == [True, True, False]
    error = socket.acks[2][1][0]["error"]
    assert error["code"] == "rate_limited" and error["details"]["retryAfter"] >= 1


async def test_oversize_events_spend_the_rate_limit() -> None:
    # Refusing an oversize event without charging it made junk free to send.
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "limited", ["x" * 200], 1, 201)
    await dispatch(ctx, TABLE, "limited", ["x" * 200], 2, 201)
    await dispatch(ctx, TABLE, "limited", [], 3, 10)
    codes = [args[0]["error"]["code"] for _, args in socket.acks]
    assert codes == ["payload_too_large", "payload_too_large", "rate_limited"]


async def test_persistent_oversize_events_end_in_the_abuse_disconnect(settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "ABUSE_MULTIPLIER": 1}  # 2 strikes for "tight"
    ctx, socket = make_ctx()
    await dispatch(ctx, TABLE, "limited", ["x" * 200], 1, 201)
    assert socket.disconnected is None
    await dispatch(ctx, TABLE, "limited", ["x" * 200], 2, 201)
    assert socket.disconnected == "rate limit abuse"


def test_parse_rate() -> None:
    rate = parse_rate("100/60/20")
    assert (rate.tokens, rate.period, rate.burst) == (100, 60.0, 20)
    assert parse_rate("5/1").capacity == 5
