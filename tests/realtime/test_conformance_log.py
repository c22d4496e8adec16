"""The conformance server's access log (daphne's, through logging) names no Engine.IO sid:
CI prints its tail when an upstream suite fails, and the suites' polling URLs carry sids."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.realtime.conftest import POLLING, _servers


async def test_access_log_holds_no_sid(conformance_server: str) -> None:
    if not _servers:
        pytest.skip("BANTER_CONFORMANCE_URL: the server's log is not ours to read")
    url = f"{conformance_server}/socket.io/?{POLLING}"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            sid = json.loads((await response.text())[1:])["sid"]
        async with http.post(f"{url}&sid={sid}", data="40") as response:
            assert response.status == 200
    log = ""
    for _ in range(50):  # the access line is written after the response
        log = _servers[-1].log_path.read_text(errors="replace")
        if log.count("POST /socket.io/") >= 1:
            break
        await asyncio.sleep(0.1)
    assert "POST /socket.io/" in log
    assert sid not in log
