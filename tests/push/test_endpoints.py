"""The Web Push endpoint check (push/endpoints.py): the server never POSTs into its own
network for a client."""

from __future__ import annotations

from typing import Any

import pytest

from push.endpoints import EndpointRefused, check_addresses, parse


@pytest.fixture
def production(settings: Any) -> None:
    settings.DEBUG = False
    settings.BANTER = {**settings.BANTER, "PUSH_ALLOWED_HOSTS": ()}


@pytest.mark.usefixtures("production")
class TestInProduction:
    @pytest.mark.parametrize(
        "url",
        [
            "http://fcm.googleapis.com/fcm/send/x",  # not https
            "http://127.0.0.1:8000/push",  # loopback over http: only with DEBUG
            "https://user:pw@push.example.com/x",  # credentials
            "ftp://push.example.com/x",
            "https:///nohost",
            "https://push.example.com:99999/x",
            "",
            None,
            "https://" + "a" * 1000 + ".com",
        ],
    )
    def test_refused_urls(self, url: Any) -> None:
        with pytest.raises(EndpointRefused):
            parse(url)

    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1",
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.1",
            "169.254.169.254",  # cloud metadata
            "100.64.0.1",  # carrier-grade NAT
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ],
    )
    def test_non_public_addresses_are_refused(self, address: str) -> None:
        target = parse("https://push.example.com/x")
        with pytest.raises(EndpointRefused):
            check_addresses(target, [address])

    def test_one_private_answer_refuses_the_name(self) -> None:
        target = parse("https://push.example.com/x")
        with pytest.raises(EndpointRefused):
            check_addresses(target, ["142.250.74.10", "10.0.0.1"])

    def test_public_https_is_accepted(self) -> None:
        target = parse("https://fcm.googleapis.com/fcm/send/abc?x=1")
        assert (target.host, target.port, target.path) == (
            "fcm.googleapis.com",
            443,
            "/fcm/send/abc?x=1",
        )
        assert check_addresses(target, ["142.250.74.10", "2a00:1450:4007:80e::200a"])

    def test_the_allowlist(self, settings: Any) -> None:
        settings.BANTER = {
            **settings.BANTER,
            "PUSH_ALLOWED_HOSTS": ("fcm.googleapis.com", "*.push.services.mozilla.com"),
        }
        parse("https://fcm.googleapis.com/x")
        parse("https://updates.push.services.mozilla.com/wpush/v2/x")
        with pytest.raises(EndpointRefused):
            parse("https://attacker.example/x")


def test_debug_allows_a_local_test_service(settings: Any) -> None:
    settings.DEBUG = True
    target = parse("http://127.0.0.1:8123/push/a")
    assert check_addresses(target, ["127.0.0.1"])
    with pytest.raises(EndpointRefused):
        parse("http://10.0.0.1/push")  # http only to loopback
    with pytest.raises(EndpointRefused):
        check_addresses(target, ["10.0.0.1"])  # a loopback name that resolves elsewhere
