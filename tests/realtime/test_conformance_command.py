"""`manage.py socketio_conformance`: where it listens (the upstream suites connect to
http://localhost:3000, which Node may resolve to ::1 first) and what it says when the port is
taken. The servers themselves are tested live in test_conformance_*.py."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from django.core.management.base import CommandError

from banter.ops.management.commands import socketio_conformance as command


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def _resolves_to(*addresses: str) -> Any:
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]

    return getaddrinfo


def test_a_literal_address_is_itself():
    assert command.listen_addresses("127.0.0.1", 3000) == ["127.0.0.1"]


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_a_name_binds_every_address_it_resolves_to(monkeypatch):
    """A name listed as ::1 and 127.0.0.1 (Node 17+ keeps the resolver's order): both."""
    monkeypatch.setattr(socket, "getaddrinfo", _resolves_to("::1", "127.0.0.1", "::1"))
    assert command.listen_addresses("localhost", 3000) == ["::1", "127.0.0.1"]


def test_addresses_this_machine_cannot_bind_are_left_out(monkeypatch):
    # 192.0.2.1 (TEST-NET-1) is on no interface of a test machine.
    monkeypatch.setattr(socket, "getaddrinfo", _resolves_to("192.0.2.1", "127.0.0.1"))
    assert command.listen_addresses("localhost", 3000) == ["127.0.0.1"]


def test_a_taken_port_is_a_plain_error():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CommandError, match=f"port {port} on 127.0.0.1 is already in use"):
            command.check_port_free("127.0.0.1", port)
