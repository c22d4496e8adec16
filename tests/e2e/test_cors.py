"""Cross-origin REST against a live server (`manage.py serve`): a browser app on another
origin in ALLOWED_ORIGINS preflights, logs in and reads with its bearer token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.request import Request, urlopen

import pytest

from tests.e2e.client import RestClient
from tests.e2e.conftest import start_banter
from tests.live_server import LiveServer

pytestmark = pytest.mark.e2e

APP = "https://app.example.com"


@pytest.fixture(scope="module")
def server(e2e_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    logs = tmp_path_factory.mktemp("cors-logs")
    server = start_banter(e2e_database, logs, "cors", ALLOWED_ORIGINS=APP)
    yield server
    server.stop()


def fetch(server: LiveServer, method: str, path: str, **headers: str) -> Any:
    request = Request(server.url + path, method=method, headers={"Origin": APP, **headers})
    with urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read()


def test_preflight_then_an_authorized_read(server: LiveServer) -> None:
    status, headers, _ = fetch(
        server,
        "OPTIONS",
        "/api/rooms",
        **{
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == APP
    assert "authorization" in headers["Access-Control-Allow-Headers"]
    assert headers.get("Access-Control-Allow-Credentials") is None

    user = RestClient(server.url).register("cors")
    status, headers, body = fetch(
        server, "GET", "/api/users/me", Authorization=f"Bearer {user.access}"
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == APP
    assert json.loads(body)["username"] == user.username


def test_an_origin_not_listed_gets_no_grant(server: LiveServer) -> None:
    request = Request(
        server.url + "/api/rooms",
        method="OPTIONS",
        headers={"Origin": "https://other.example.net", "Access-Control-Request-Method": "GET"},
    )
    with urlopen(request, timeout=10) as response:
        assert response.headers.get("Access-Control-Allow-Origin") is None
