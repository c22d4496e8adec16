"""/healthz, /readyz and /metrics as ASGI handlers (in process, on the embedded default)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from banter.core import metrics
from banter.ops import endpoints
from banter.realtime import lifecycle
from banter.realtime.hub import process_hubs

pytestmark = pytest.mark.django_db(transaction=True)

# As banter/wiring.py builds them, on the process's hubs.
ROUTES = endpoints.build_routes(process_hubs())


async def _get(path: str, client: str = "127.0.0.1", headers: Any = ()) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "path": path, "client": (client, 5000), "headers": list(headers)}
    await ROUTES[path](scope, None, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def test_healthz() -> None:
    assert await _get("/healthz") == (200, b'{"status":"ok"}')


async def test_readyz_checks_database_and_channel_layer_round_trip() -> None:
    status, body = await _get("/readyz")
    assert status == 200, body
    assert orjson.loads(body) == {
        "status": "ready",
        "checks": {"database": "ok", "channel_layer": "ok"},  # no Redis configured
    }


async def test_readyz_is_red_while_draining(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lifecycle, "is_draining", lambda: True)
    status, body = await _get("/readyz")
    assert status == 503
    assert orjson.loads(body)["checks"]["draining"] == "error: shutting down"


async def test_readyz_is_red_when_the_database_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise ConnectionError("database is down")

    monkeypatch.setattr(endpoints, "_select_one", broken)
    status, body = await _get("/readyz")
    assert status == 503
    assert orjson.loads(body)["checks"]["database"].startswith("error: ConnectionError")


async def test_metrics_only_for_allowed_networks_or_the_token(settings: Any) -> None:
    metrics.EVENTS.inc("send-message", "ok")
    status, body = await _get("/metrics")
    assert status == 200
    assert b'banter_events_total{event="send-message",outcome="ok"}' in body
    assert b'banter_connections{transport="websocket"}' in body
    assert b"banter_channel_layer_up" in body or b"banter_connects_total" in body

    assert (await _get("/metrics", client="203.0.113.9"))[0] == 403
    settings.METRICS_TOKEN = "s3cret"
    bearer = [(b"authorization", b"Bearer s3cret")]
    assert (await _get("/metrics", client="203.0.113.9", headers=bearer))[0] == 200
    wrong = [(b"authorization", b"Bearer nope")]
    assert (await _get("/metrics", client="203.0.113.9", headers=wrong))[0] == 403


async def test_readyz_hides_failure_details_from_outsiders(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    def broken() -> None:
        raise ConnectionError("could not connect to db.internal:5432 as banter_rw")

    monkeypatch.setattr(endpoints, "_select_one", broken)
    status, body = await _get("/readyz", client="203.0.113.9")
    assert status == 503
    assert orjson.loads(body) == {
        "status": "not ready",
        "checks": {"database": "failed", "channel_layer": "ok"},
    }
    assert b"db.internal" not in body and b"ConnectionError" not in body

    # The /metrics rule: its networks (loopback by default) or its token see the detail.
    settings.METRICS_TOKEN = "s3cret"
    bearer = [(b"authorization", b"Bearer s3cret")]
    for client, headers in (("127.0.0.1", ()), ("203.0.113.9", bearer)):
        status, body = await _get("/readyz", client=client, headers=headers)
        assert status == 503
        assert b"ConnectionError: could not connect to db.internal" in body
