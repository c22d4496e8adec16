"""Event names come from clients: logged escaped, they cannot forge or hide log lines."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from banter.core.ratelimit import get_rate_limiter
from banter.realtime.dispatch import EventContext, EventSpec, dispatch

FORGED = 'x\n2026-01-01 00:00:00 WARNING banter.ops admin login ok\x1b[2K\x1b[1A"'


class FakeSocket:
    def ack(self, ack_id: int, args: list[Any]) -> None:
        pass

    def emit(self, event: str, *args: Any) -> None:
        pass

    def disconnect(self, reason: str) -> None:
        pass


class FakeUser:
    pk = 7


def make_ctx() -> EventContext:
    async def join(group: str) -> None:
        return None

    return EventContext(
        socket=FakeSocket(),  # type: ignore[arg-type]
        user=FakeUser(),  # type: ignore[arg-type]
        client_ip="127.0.0.1",
        origin=None,
        join_group=join,
        leave_group=lambda group: None,
    )


async def echo(ctx: EventContext, payload: Any) -> Any:
    return payload


@pytest.fixture(autouse=True)
def _limits(settings: Any) -> None:
    settings.BANTER = {**settings.BANTER, "RATE_LIMITS": {"default": "1/60/1"}}
    get_rate_limiter().reset()


def _dispatch_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "banter.realtime.dispatch"]


def _assert_escaped(lines: list[str]) -> None:
    assert lines
    for line in lines:
        assert "\n" not in line and "\x1b" not in line, line
        assert "\\n" in line and "\\x1b[" in line, line


async def test_unknown_event_name_is_logged_escaped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="banter.realtime.dispatch")
    await dispatch(make_ctx(), {"echo": EventSpec(echo)}, FORGED, [], 1, 10)
    lines = _dispatch_lines(caplog)
    assert any("event rejected" in line for line in lines)
    _assert_escaped(lines)


async def test_rate_limited_event_name_is_logged_escaped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ctx = make_ctx()
    await dispatch(ctx, {}, FORGED, [], 1, 10)  # spends the one token
    caplog.set_level(logging.INFO, logger="banter.realtime.dispatch")
    await dispatch(ctx, {}, FORGED, [], 2, 10)  # denied
    lines = _dispatch_lines(caplog)
    assert any("rate limited" in line for line in lines)
    _assert_escaped(lines)
