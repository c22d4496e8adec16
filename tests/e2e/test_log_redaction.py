"""No Engine.IO sid and no token in a `manage.py serve` process's output.

Whoever reads a polling session's sid can read and write as that session, and a token in a
query string is a login: the servers' access logs (uvicorn.access, uvicorn's WebSocket lines,
daphne's access log) print request paths with their query strings, and our own lines name
engine sids. A real server process, access log at INFO, gets polling and WebSocket traffic
carrying both, Engine.IO v3 traffic too (ALLOW_EIO3: socket.io-client 2.x sends its token as
?token=); its whole stdout/stderr must hold neither value.
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


def polling_handshake(base: str, query: str = "", eio: int = 4) -> str:
    status, body = http("GET", f"{base}/socket.io/?EIO={eio}&transport=polling{query}")
    assert status == 200, body
    if eio == 3:  # a v3 payload: "<length>:0{...}"
        body = body.partition(":")[2]
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
            e2e_database,
            port,
            ASGI_SERVER=asgi_server,
            LOG_LEVEL="INFO",
            LOG_FORMAT="plain",
            ALLOW_EIO3="1",  # Engine.IO v3 clients send ?token= (their only way in a browser)
        ),
        log_path=tmp_path / f"redaction-{asgi_server}.log",
        cwd=ROOT,
    )
    token = "tok" + secrets.token_hex(20)
    # Shaped like a JWT (so the server's checks get as far as a real one), never valid.
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ" + secrets.token_urlsafe(24) + "." + secrets.token_urlsafe(16)
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
        # Engine.IO v3 (socket.io-client 2.x): polling with ?token= and b64, a Socket.IO v2
        # namespace CONNECT carrying the token in its own query, a WebSocket with ?token= and
        # the upgrade of a v3 polling session.
        sid = polling_handshake(base, f"&b64=1&token={jwt}", eio=3)
        sids.append(sid)
        session = f"{base}/socket.io/?EIO=3&transport=polling&sid={sid}"
        assert http("GET", session)[0] == 200  # the implicit connect's refusal
        connect = f"40/nope?token={jwt},"
        assert http("POST", session, f"{len(connect)}:{connect}".encode())[0] == 200
        assert http("GET", session)[0] == 200
        http("POST", session, b"5:4hi")  # malformed: the session is closed
        with ws_connect(f"{server.ws_url}/socket.io/?EIO=3&transport=websocket&token={jwt}") as ws:
            assert str(ws.recv(timeout=10)).startswith("0{")
            assert str(ws.recv(timeout=10)).startswith("44{")  # refused: not a real token
        sid = polling_handshake(base, f"&token={token}", eio=3)
        sids.append(sid)
        with ws_connect(f"{server.ws_url}/socket.io/?EIO=3&transport=websocket&sid={sid}") as ws:
            ws.send("2probe")
            assert ws.recv(timeout=10) == "3probe"
        # A REST call with a query token (django.request, the access log).
        http("GET", f"{base}/api/users/me?token={token}")
    output = server.log_path.read_text(errors="replace")
    # The access log was on: the requests were logged, only without their queries.
    assert output.count("/socket.io/") >= 13, output
    assert "/api/users/me" in output, output
    assert token not in output, output
    assert jwt not in output and jwt.split(".")[1] not in output, output
    for sid in sids:
        assert sid not in output, output
    assert "?EIO=" not in output and "EIO=3" not in output, output
