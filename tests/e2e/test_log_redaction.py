"""No Engine.IO sid and no token in a `manage.py serve` process's output.

Whoever reads a polling session's sid can read and write as that session, and a token in a
query string is a login: the servers' access logs (uvicorn.access, uvicorn's WebSocket lines,
daphne's access log) print request paths with their query strings, and our own lines name
engine sids. A real server process, access log at INFO, gets polling and WebSocket traffic
carrying both; its whole stdout/stderr must hold neither value.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from urllib.request import Request, urlopen

import pytest
from websockets.sync.client import connect as ws_connect

from tests.e2e.conftest import ROOT, server_env
from tests.live_server import LiveServer, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    request = Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "text/plain;charset=UTF-8")
    try:
        with urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except Exception as error:  # HTTPError: the status is all we need
        return getattr(error, "code", 0), ""


def polling_handshake(base: str, query: str = "") -> str:
    status, body = http("GET", f"{base}/socket.io/?EIO=4&transport=polling{query}")
    assert status == 200, body
    return str(json.loads(body[1:])["sid"])


@pytest.mark.parametrize("asgi_server", ["uvicorn", "daphne"])
def test_server_output_holds_no_sid_and_no_token(
    e2e_database: str, tmp_path: Path, asgi_server: str
) -> None:
    port = free_port()
    server = LiveServer(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        port=port,
        env=server_env(
            e2e_database, port, ASGI_SERVER=asgi_server, LOG_LEVEL="INFO", LOG_FORMAT="plain"
        ),
        log_path=tmp_path / f"redaction-{asgi_server}.log",
        cwd=ROOT,
    )
    token = "tok" + secrets.token_hex(20)
    sids: list[str] = []
    with server:
        base = server.url
        # Polling: a handshake carrying ?token=, then the session's requests with its sid.
        sid = polling_handshake(base, f"&token={token}")
        sids.append(sid)
        session = f"{base}/socket.io/?EIO=4&transport=polling&sid={sid}"
        assert http("POST", session, b"40")[0] == 200  # CONNECT without auth: refused
        assert http("GET", session)[0] == 200  # the CONNECT_ERROR
        # A session closed on an invalid packet: our own INFO line names it.
        sid = polling_handshake(base)
        sids.append(sid)
        http("POST", f"{base}/socket.io/?EIO=4&transport=polling&sid={sid}", b"49")
        # WebSocket: a handshake with ?token=, and an upgrade of a polling session by sid.
        with ws_connect(
            f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&token={token}"
        ) as ws:
            assert str(ws.recv(timeout=10)).startswith("0{")
        sid = polling_handshake(base)
        sids.append(sid)
        with ws_connect(f"{server.ws_url}/socket.io/?EIO=4&transport=websocket&sid={sid}") as ws:
            ws.send("2probe")
            assert ws.recv(timeout=10) == "3probe"
        # A REST call with a query token (django.request, the access log).
        http("GET", f"{base}/api/users/me?token={token}")
    output = server.log_path.read_text(errors="replace")
    # The access log was on: the requests were logged, only without their queries.
    assert output.count("/socket.io/") >= 6, output
    assert "/api/users/me" in output, output
    assert token not in output, output
    for sid in sids:
        assert sid not in output, output
    assert "?EIO=" not in output, output
