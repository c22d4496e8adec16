"""The message path with node's official socket.io-client (websocket, and polling -> upgrade)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.e2e.client import RestClient
from tests.live_server import LiveServer
from tests.services import require_node

pytestmark = pytest.mark.e2e

SCENARIO = Path(__file__).parent / "node" / "chat_scenario.mjs"


async def run_node(config: dict) -> dict:
    node = require_node()
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCENARIO),
        json.dumps(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    return dict(json.loads(stdout.decode().strip().splitlines()[-1]))


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
