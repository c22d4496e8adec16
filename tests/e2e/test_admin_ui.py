"""The Socket.IO Admin UI against a Banter cluster: two server processes on one Redis, the UI's
side spoken by node's official socket.io-client (tests/e2e/node/admin_ui_scenario.mjs), and
the password hash made by `manage.py admin_ui_password` as an operator would."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.client import RestClient, run_node_script
from tests.e2e.conftest import ROOT, instance_pair, server_env, start_banter
from tests.e2e.test_cluster import ADMIN_PASSWORD, create_superuser
from tests.live_server import LiveServer
from tests.services import require_redis

pytestmark = [pytest.mark.e2e, pytest.mark.services]

SCENARIO = Path(__file__).parent / "node" / "admin_ui_scenario.mjs"
USERNAME = "ops"
PASSWORD = f"Admin-UI-{uuid.uuid4().hex[:12]}"


def password_hash(database_url: str) -> str:
    """What `manage.py admin_ui_password` prints, read from standard input."""
    done = subprocess.run(
        [sys.executable, "manage.py", "admin_ui_password", "--stdin"],
        cwd=ROOT,
        env={**os.environ, **server_env(database_url, 0)},
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    name, _, value = done.stdout.strip().partition("=")
    assert name == "ADMIN_UI_PASSWORD_HASH"
    return value


def admin_settings(database_url: str, **extra: str) -> dict[str, str]:
    return {
        "ADMIN_UI": "1",
        "ADMIN_UI_USERNAME": USERNAME,
        "ADMIN_UI_PASSWORD_HASH": password_hash(database_url),
        **extra,
    }


@pytest.fixture(scope="module")
def admin_pair(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    extra = {
        "REDIS_URL": require_redis(),
        "REDIS_PREFIX": f"banter-admin-ui-{uuid.uuid4().hex[:8]}",
        **admin_settings(e2e_database),
    }
    with instance_pair(
        e2e_database, tmp_path_factory.mktemp("admin-ui-logs"), "admin", **extra
    ) as pair:
        yield pair


def staff_token(database_url: str, rest: RestClient) -> str:
    username = create_superuser(database_url)
    tokens = rest.call(
        "POST", "/api/auth/token", {"username": username, "password": ADMIN_PASSWORD}
    )
    return str(tokens["access"])


async def test_admin_ui_watches_and_disconnects_a_socket_on_the_other_instance(
    admin_pair: tuple[LiveServer, LiveServer], e2e_database: str
) -> None:
    one, two = admin_pair
    rest = RestClient(one.url)
    alice, bob = rest.register("alice"), rest.register("bob")
    room = rest.create_room(alice, "watched", [bob])
    result: dict[str, Any] = await run_node_script(
        SCENARIO,
        {
            "mode": "cluster",
            "url1": one.url,
            "url2": two.url,
            "username": USERNAME,
            "password": PASSWORD,
            "staffToken": staff_token(e2e_database, rest),
            "nonStaffToken": bob.access,
            "userToken": alice.access,
            "roomId": room["id"],
        },
        timeout=120,
    )

    refused = {"message": "invalid credentials"}
    assert result["wrongPassword"] == {**refused, "data": {"code": "invalid_credentials"}}
    assert result["nonStaffToken"] == {**refused, "data": {"code": "forbidden"}}
    assert result["noAuth"] == {**refused, "data": {"code": "auth_required"}}
    assert result["staffConnected"] is True

    assert result["session"] == "string"
    features = result["config"]["supportedFeatures"]
    assert "DISCONNECT" in features and "ALL_EVENTS" in features
    assert "JOIN" not in features and "EMIT" not in features
    assert len(result["servers"]) == 2  # both instances report to the UI on instance 1
    stats = result["stats"]
    assert {"serverId", "hostname", "pid", "uptime", "clientsCount", "pollingClientsCount"} <= set(
        stats
    )
    assert {namespace["name"] for namespace in stats["namespaces"]} == {"/", "/admin"}

    socket = result["socket"]  # alice's socket on instance 2, seen from instance 1
    assert socket["nsp"] == "/"
    assert socket["data"]["username"] == alice.username
    assert socket["data"]["serverId"] in result["servers"]
    assert f"room.{room['id']}" in socket["rooms"]
    assert f"user.{alice.id}" in socket["rooms"]
    assert socket["handshake"]["address"] == "127.0.0.1"
    assert "authorization" not in socket["handshake"]["headers"]
    assert "token" not in socket["handshake"]["query"]
    assert result["upgrade"]["transport"] == "websocket"

    assert result["joinAck"]["ok"] is True
    assert result["received"][0] == "/"
    assert result["received"][2] == ["join-room", room["id"]]
    assert result["sendAck"]["ok"] is True
    message = result["sent"][2][1]
    assert message["id"] == result["sendAck"]["data"]["id"]

    assert result["userDisconnectReason"] == "io server disconnect"
    assert result["disconnected"][2] == "server namespace disconnect"
    assert result["joinRefused"]["ok"] is False
    assert result["joinRefused"]["error"]["code"] == "forbidden"
    assert result["sessionOnOtherInstance"] is True


@pytest.fixture(scope="module")
def readonly_server(
    e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    logs = tmp_path_factory.mktemp("admin-ui-readonly-logs")
    extra = admin_settings(e2e_database, ADMIN_UI_READONLY="1")
    server = start_banter(e2e_database, logs, "admin-readonly", **extra)
    yield server
    server.stop()


async def test_read_only_admin_ui_cannot_disconnect(readonly_server: LiveServer) -> None:
    alice = RestClient(readonly_server.url).register("alice")
    result = await run_node_script(
        SCENARIO,
        {
            "mode": "readonly",
            "url1": readonly_server.url,
            "username": USERNAME,
            "password": PASSWORD,
            "userToken": alice.access,
        },
        timeout=120,
    )
    assert result["config"] == {"supportedFeatures": ["AGGREGATED_EVENTS", "ALL_EVENTS"]}
    assert result["disconnectAck"]["ok"] is False
    assert result["disconnectAck"]["error"]["code"] == "forbidden"
    assert result["userStillConnected"] is True
