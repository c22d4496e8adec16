"""The message path with node's official socket.io-client (websocket, and polling -> upgrade)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.client import RestClient, run_node_script
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e

SCENARIO = Path(__file__).parent / "node" / "chat_scenario.mjs"


async def run_node(config: dict) -> dict:
    return dict(await run_node_script(SCENARIO, config))


@pytest.mark.parametrize(
    ("transports", "expected_transport"),
    [
        (["websocket"], "websocket"),
        (["polling", "websocket"], "websocket"),
        (["polling"], "polling"),
    ],
)
async def test_node_client_message_path(
    banter_server: LiveServer, rest: RestClient, transports: list[str], expected_transport: str
) -> None:
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "node", [bob])
    result = await run_node(
        {
            "url": banter_server.url,
            "transports": transports,
            "tokenA": alice.access,
            "tokenB": bob.access,
            "roomId": room["id"],
            "content": "hi from node",
        }
    )
    assert result["badToken"]["data"] == {"code": "token_invalid"}
    assert result["noToken"]["data"] == {"code": "auth_required"}
    assert result["ack"]["ok"] is True
    message = result["ack"]["data"]
    assert message["content"] == "hi from node" and message["clientId"] == "node-1"
    assert result["received"] == message
    assert result["unknown"]["ok"] is False
    assert result["unknown"]["error"]["code"] == "not_found"
    assert result["transport"] == expected_transport
