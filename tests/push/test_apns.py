"""The APNs sender (push/apns.py) against a local APNs (tests/push/apns_service.py): HTTP/2
over TLS, the provider token checked with the test key's public key, Apple's answers. The
pure parts (URL, token cache, answer table) are tested without a server."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from banter.realtime.dispatch import run_sync
from chat import services
from push import delivery, senders
from push.apns import (
    MIN_TOKEN_REFRESH,
    PRODUCTION,
    SANDBOX,
    TOKEN_LIFETIME,
    ApnsSender,
    ProviderToken,
    classify,
    device_url,
)
from push.models import Device, PushOutbox
from push.targets import Push, PushResult, Target
from tests.push.apns_service import KEY_ID, TEAM_ID, ApnsService, write_signing_key

DEVICE_TOKEN = "a1b2c3d4" * 8
TOPIC = "com.example.app"
TARGET = Target(kind="apns", token=DEVICE_TOKEN, topic=TOPIC)


class Clock:
    """A clock a test moves; the sender and the service read the same one."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def message_push(**payload: Any) -> Push:
    return Push(
        payload={
            "type": "message",
            "roomId": 7,
            "messageId": 42,
            "title": "Alice in Team",
            "body": "hello bob",
            "badge": 3,
            **payload,
        },
        ttl=3600,
        urgent=False,
        collapse_key="room:7",
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[Path, ec.EllipticCurvePublicKey]:
    """The .p8 signing key in a file, and its public key (APNs's copy)."""
    path = tmp_path / "AuthKey_ABC123DEFG.p8"
    return path, write_signing_key(path)


@pytest.fixture
def key_path(key_file: tuple[Path, ec.EllipticCurvePublicKey]) -> Path:
    return key_file[0]


@pytest.fixture
def public_key(key_file: tuple[Path, ec.EllipticCurvePublicKey]) -> ec.EllipticCurvePublicKey:
    return key_file[1]


@pytest.fixture
def apns_settings(settings: Any, key_path: Path) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "APNS_KEY": str(key_path),
        "APNS_KEY_ID": KEY_ID,
        "APNS_TEAM_ID": TEAM_ID,
        "APNS_TOPIC": "",
    }


@pytest.fixture
def service(
    tmp_path: Path, public_key: ec.EllipticCurvePublicKey, clock: Clock
) -> Iterator[ApnsService]:
    with ApnsService(public_key, tmp_path, clock=clock) as apns:
        yield apns


@pytest.fixture
def sender(service: ApnsService, clock: Clock, apns_settings: None) -> ApnsSender:
    return ApnsSender(base_url=service.base_url, ssl=service.client_ssl_context(), clock=clock)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


class TestUrl:
    def test_a_production_token_goes_to_apple(self) -> None:
        assert device_url(TARGET) == f"https://api.push.apple.com/3/device/{DEVICE_TOKEN}"
        assert PRODUCTION == "https://api.push.apple.com"

    def test_a_sandbox_token_goes_to_the_sandbox(self) -> None:
        target = Target(kind="apns", token=DEVICE_TOKEN, topic=TOPIC, sandbox=True)
        assert device_url(target) == f"https://api.sandbox.push.apple.com/3/device/{DEVICE_TOKEN}"
        assert SANDBOX == "https://api.sandbox.push.apple.com"

    def test_a_base_url_replaces_both(self) -> None:
        sandbox = Target(kind="apns", token=DEVICE_TOKEN, sandbox=True)
        assert device_url(sandbox, "https://127.0.0.1:8443/") == (
            f"https://127.0.0.1:8443/3/device/{DEVICE_TOKEN}"
        )

    def test_the_token_cannot_leave_the_path(self) -> None:
        target = Target(kind="apns", token="../../x?y")
        assert device_url(target).endswith("/3/device/..%2F..%2Fx%3Fy")


class TestConfigured:
    def test_needs_a_readable_key_its_id_and_the_team(
        self, apns_settings: None, settings: Any, key_path: Path, tmp_path: Path
    ) -> None:
        sender = ApnsSender()
        assert sender.configured()
        for name, value in [
            ("APNS_KEY", ""),
            ("APNS_KEY", str(tmp_path / "missing.p8")),
            ("APNS_KEY", str(tmp_path)),  # a directory
            ("APNS_KEY_ID", ""),
            ("APNS_TEAM_ID", ""),
        ]:
            configured = {**settings.BANTER, "APNS_KEY": str(key_path)}
            settings.BANTER = {**configured, name: value}
            assert not sender.configured(), name

    def test_registered_as_the_apns_sender(self) -> None:
        assert isinstance(senders.SENDERS["apns"], ApnsSender)


class TestProviderToken:
    def test_one_token_for_fifty_minutes_then_a_new_one(
        self, key_path: Path, public_key: ec.EllipticCurvePublicKey, clock: Clock
    ) -> None:
        tokens = ProviderToken(clock)
        first = tokens.get(str(key_path), KEY_ID, TEAM_ID)
        assert jwt.get_unverified_header(first) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
        assert jwt.decode(first, public_key, algorithms=["ES256"]) == {
            "iss": TEAM_ID,
            "iat": int(clock.now),
        }
        clock.advance(TOKEN_LIFETIME - 1)
        assert tokens.get(str(key_path), KEY_ID, TEAM_ID) == first
        clock.advance(1)
        second = tokens.get(str(key_path), KEY_ID, TEAM_ID)
        assert second != first
        claims = jwt.decode(second, public_key, algorithms=["ES256"], options={"verify_iat": False})
        assert claims["iat"] == int(clock.now)  # the test clock is 50 minutes ahead

    def test_other_credentials_make_a_new_token(self, key_path: Path, clock: Clock) -> None:
        tokens = ProviderToken(clock)
        first = tokens.get(str(key_path), KEY_ID, TEAM_ID)
        other = tokens.get(str(key_path), "ZZZ999ZZZZ", TEAM_ID)
        assert other != first and jwt.get_unverified_header(other)["kid"] == "ZZZ999ZZZZ"

    def test_a_refused_young_token_stays(self, key_path: Path, clock: Clock) -> None:
        tokens = ProviderToken(clock)
        token = tokens.get(str(key_path), KEY_ID, TEAM_ID)
        clock.advance(60)
        assert tokens.refused(token) == MIN_TOKEN_REFRESH - 60
        assert tokens.get(str(key_path), KEY_ID, TEAM_ID) == token

    def test_a_refused_token_older_than_twenty_minutes_is_replaced_once(
        self, key_path: Path, clock: Clock
    ) -> None:
        tokens = ProviderToken(clock)
        old = tokens.get(str(key_path), KEY_ID, TEAM_ID)
        clock.advance(MIN_TOKEN_REFRESH)
        assert tokens.refused(old) == 0
        new = tokens.get(str(key_path), KEY_ID, TEAM_ID)
        assert new != old
        # Another send refused with the old token: the new one stands.
        assert tokens.refused(old) == 0
        assert tokens.get(str(key_path), KEY_ID, TEAM_ID) == new

    def test_a_key_that_is_not_p256_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "other.p8"
        path.write_bytes(
            ec.generate_private_key(ec.SECP384R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        with pytest.raises(ValueError, match="P-256"):
            ProviderToken().get(str(path), KEY_ID, TEAM_ID)


class TestTheRequest:
    async def test_what_leaves_the_machine(
        self,
        sender: ApnsSender,
        service: ApnsService,
        clock: Clock,
        session: aiohttp.ClientSession,
    ) -> None:
        assert await sender.send(session, TARGET, message_push()) == PushResult("sent", 200)

        (push,) = service.received()
        assert push.error is None and push.status == 200
        assert service.refused_connections == []  # HTTP/2 (ALPN h2) over TLS
        assert (push.method, push.path) == ("POST", f"/3/device/{DEVICE_TOKEN}")
        assert {k: v for k, v in push.headers.items() if k.startswith("apns-")} == {
            "apns-topic": TOPIC,
            "apns-push-type": "alert",
            "apns-priority": "5",
            "apns-expiration": str(int(clock.now) + 3600),
            "apns-collapse-id": "room:7",
        }
        assert push.authorization.startswith("bearer ")
        assert push.token_header == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
        assert push.token_claims == {"iss": TEAM_ID, "iat": int(clock.now)}
        assert push.json() == {
            "aps": {
                "alert": {"title": "Alice in Team", "body": "hello bob"},
                "badge": 3,
                "thread-id": "room:7",
            },
            "type": "message",
            "roomId": 7,
            "messageId": 42,
        }

    async def test_a_mention_is_urgent_and_sounds(
        self, sender: ApnsSender, service: ApnsService, session: aiohttp.ClientSession
    ) -> None:
        push = Push(message_push(type="mention").payload, 600, True, "room:7")
        assert (await sender.send(session, TARGET, push)).outcome == "sent"
        (received,) = service.received()
        assert received.headers["apns-priority"] == "10"
        assert received.json()["aps"]["sound"] == "default"

    async def test_a_ringing_call(
        self,
        sender: ApnsSender,
        service: ApnsService,
        clock: Clock,
        session: aiohttp.ClientSession,
    ) -> None:
        payload = {
            "type": "call_incoming",
            "callId": 5,
            "title": "Alice is calling",
            "body": "Voice call",
            "badge": 0,
        }
        assert (await sender.send(session, TARGET, Push(payload, 45, True, "call:5"))).outcome == (
            "sent"
        )
        (received,) = service.received()
        assert received.headers["apns-expiration"] == str(int(clock.now) + 45)
        assert received.headers["apns-collapse-id"] == "call:5"
        assert received.json() == {
            "aps": {
                "alert": {"title": "Alice is calling", "body": "Voice call"},
                "badge": 0,
                "sound": "default",
                "thread-id": "call:5",
            },
            "type": "call_incoming",
            "callId": 5,
        }

    async def test_no_time_to_live_is_expiration_zero(
        self, sender: ApnsSender, service: ApnsService, session: aiohttp.ClientSession
    ) -> None:
        push = Push(message_push().payload, 0, False, "room:7")
        await sender.send(session, TARGET, push)
        assert service.received()[0].headers["apns-expiration"] == "0"

    async def test_the_collapse_id_is_cut_to_64_bytes_on_a_character(
        self, sender: ApnsSender, service: ApnsService, session: aiohttp.ClientSession
    ) -> None:
        key = "room:" + "é" * 40  # 85 bytes
        result = await sender.send(session, TARGET, Push(message_push().payload, 60, False, key))
        assert result.outcome == "sent"
        (received,) = service.received()
        assert received.headers["apns-collapse-id"] == "room:" + "é" * 29  # 63 bytes
        assert received.json()["aps"]["thread-id"] == key

    async def test_a_device_without_topic_uses_apns_topic(
        self,
        sender: ApnsSender,
        service: ApnsService,
        settings: Any,
        session: aiohttp.ClientSession,
    ) -> None:
        bare = Target(kind="apns", token=DEVICE_TOKEN)
        result = await sender.send(session, bare, message_push())
        assert result.outcome == "failed" and "APNS_TOPIC" in result.detail
        assert service.received() == []

        settings.BANTER = {**settings.BANTER, "APNS_TOPIC": "com.example.fallback"}
        assert (await sender.send(session, bare, message_push())).outcome == "sent"
        assert service.received()[0].headers["apns-topic"] == "com.example.fallback"


class TestTheProviderTokenOverTheWire:
    async def test_one_token_serves_many_sends(
        self, sender: ApnsSender, service: ApnsService, session: aiohttp.ClientSession
    ) -> None:
        for _ in range(3):
            assert (await sender.send(session, TARGET, message_push())).outcome == "sent"
        tokens = {push.authorization for push in service.received()}
        assert len(service.received()) == 3 and len(tokens) == 1

    async def test_an_expired_token_is_made_anew_and_the_push_sent_again(
        self,
        sender: ApnsSender,
        service: ApnsService,
        clock: Clock,
        session: aiohttp.ClientSession,
    ) -> None:
        await sender.send(session, TARGET, message_push())
        clock.advance(30 * 60)  # still reused by the sender ...
        service.expire_tokens_issued_before(int(clock.now))  # ... but APNs says it expired

        assert await sender.send(session, TARGET, message_push()) == PushResult("sent", 200)
        first, refused, again = service.received()
        assert (refused.status, refused.reason) == (403, "ExpiredProviderToken")
        assert refused.authorization == first.authorization
        assert again.status == 200 and again.authorization != first.authorization
        assert again.token_claims == {"iss": TEAM_ID, "iat": int(clock.now)}

        await sender.send(session, TARGET, message_push())
        assert service.received()[-1].authorization == again.authorization

    async def test_concurrent_refusals_make_one_new_token(
        self,
        sender: ApnsSender,
        service: ApnsService,
        clock: Clock,
        session: aiohttp.ClientSession,
    ) -> None:
        await sender.send(session, TARGET, message_push())
        clock.advance(30 * 60)
        service.expire_tokens_issued_before(int(clock.now))

        results = await asyncio.gather(
            *(sender.send(session, TARGET, message_push()) for _ in range(5))
        )
        assert {result.outcome for result in results} == {"sent"}
        sent = [push for push in service.received() if push.status == 200]
        assert len(sent) == 6 and len({push.authorization for push in sent[1:]}) == 1

    async def test_a_young_token_refused_is_not_replaced(
        self,
        sender: ApnsSender,
        service: ApnsService,
        clock: Clock,
        session: aiohttp.ClientSession,
    ) -> None:
        # Apple refuses token updates more often than every 20 minutes, and a token made a
        # minute ago is not cured by another: the key id, the team or the clock is wrong.
        await sender.send(session, TARGET, message_push())
        clock.advance(60)
        service.answer(403, "InvalidProviderToken")
        assert await sender.send(session, TARGET, message_push()) == PushResult(
            "failed", 403, "InvalidProviderToken"
        )
        service.answer(403, "ExpiredProviderToken")
        assert await sender.send(session, TARGET, message_push()) == PushResult(
            "retry", 403, "ExpiredProviderToken", MIN_TOKEN_REFRESH - 60
        )
        assert len({push.authorization for push in service.received()}) == 1

    async def test_a_wrong_key_id_is_refused_by_apns(
        self,
        sender: ApnsSender,
        service: ApnsService,
        settings: Any,
        session: aiohttp.ClientSession,
    ) -> None:
        settings.BANTER = {**settings.BANTER, "APNS_KEY_ID": "WRONG12345"}
        result = await sender.send(session, TARGET, message_push())
        assert (result.outcome, result.status, result.detail) == (
            "failed",
            403,
            "InvalidProviderToken",
        )
        (refused,) = service.received()
        assert refused.error is not None and "kid" in refused.error


class TestAnswers:
    @pytest.mark.parametrize(
        ("status", "reason", "outcome"),
        [
            (410, "Unregistered", "gone"),
            (410, "ExpiredToken", "gone"),
            (400, "BadDeviceToken", "gone"),
            (400, "DeviceTokenNotForTopic", "gone"),
            (429, "TooManyRequests", "retry"),
            (429, "TooManyProviderTokenUpdates", "retry"),
            (500, "InternalServerError", "retry"),
            (503, "ServiceUnavailable", "retry"),
            (503, "Shutdown", "retry"),
            (400, "BadTopic", "failed"),
            (400, "TopicDisallowed", "failed"),
            (403, "BadCertificateEnvironment", "failed"),
            (413, "PayloadTooLarge", "failed"),
        ],
    )
    async def test_apples_answer(
        self,
        sender: ApnsSender,
        service: ApnsService,
        session: aiohttp.ClientSession,
        status: int,
        reason: str,
        outcome: str,
    ) -> None:
        service.answer(status, reason)
        result = await sender.send(session, TARGET, message_push())
        assert (result.outcome, result.status, result.detail) == (outcome, status, reason)
        assert len(service.received()) == 1  # answered by the outbox's backoff, not here

    def test_a_retry_after_is_kept(self) -> None:
        assert classify(429, "TooManyRequests", "30") == PushResult(
            "retry", 429, "TooManyRequests", 30.0
        )
        assert classify(503, "", "soon").retry_after is None

    async def test_nobody_listening_is_retry(
        self, apns_settings: None, session: aiohttp.ClientSession
    ) -> None:
        sender = ApnsSender(base_url=f"https://127.0.0.1:{closed_port()}")
        result = await sender.send(session, TARGET, message_push())
        assert result.outcome == "retry" and "ConnectError" in result.detail

    async def test_an_untrusted_certificate_is_retry(
        self, apns_settings: None, service: ApnsService, session: aiohttp.ClientSession
    ) -> None:
        sender = ApnsSender(base_url=service.base_url)  # the system's CAs only
        result = await sender.send(session, TARGET, message_push())
        assert result.outcome == "retry" and "CERTIFICATE_VERIFY_FAILED" in result.detail
        assert service.received() == []

    async def test_an_unreadable_key_fails_the_push(
        self,
        sender: ApnsSender,
        service: ApnsService,
        settings: Any,
        tmp_path: Path,
        session: aiohttp.ClientSession,
    ) -> None:
        garbage = tmp_path / "garbage.p8"
        garbage.write_text("not a key")
        settings.BANTER = {**settings.BANTER, "APNS_KEY": str(garbage)}
        result = await sender.send(session, TARGET, message_push())
        assert result.outcome == "failed" and result.detail.startswith("APNS_KEY:")
        assert service.received() == []


def closed_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_sender_outlives_an_event_loop(sender: ApnsSender, service: ApnsService) -> None:
    # push/senders.py holds one sender for the process; each test (and each `manage.py`
    # command) may run it in a new event loop.
    async def one() -> str:
        async with aiohttp.ClientSession() as session:
            return (await sender.send(session, TARGET, message_push())).outcome

    assert asyncio.run(one()) == "sent"
    assert asyncio.run(one()) == "sent"
    assert len(service.received()) == 2


def test_the_local_apns_speaks_only_http2(service: ApnsService) -> None:
    with httpx.Client(verify=service.client_ssl_context()) as http1, pytest.raises(httpx.HTTPError):
        http1.post(f"{service.base_url}/3/device/{DEVICE_TOKEN}", content=b"{}")
    assert service.received() == []
    assert service.refused_connections == ["ALPN did not select h2"]


@pytest.mark.django_db(transaction=True)
class TestThroughTheDeliveryLoop:
    """A device registered over REST, a message, the outbox's delivery round, the local
    APNs: the whole path, with the test server wired in through the sender instance."""

    @pytest.fixture(autouse=True)
    def wired(self, settings: Any, sender: ApnsSender, monkeypatch: pytest.MonkeyPatch) -> None:
        settings.BANTER = {**settings.BANTER, "PRESENCE_OFFLINE_GRACE": 0.0}
        monkeypatch.setitem(senders.SENDERS, "apns", sender)

    @staticmethod
    def arrange(user_factory: Any, auth_client: Any) -> tuple[int, int]:
        alice = user_factory(username="alice", display_name="Alice")
        bob = user_factory(username="bob")
        room = services.room_create(creator=alice, name="Team", member_ids=[bob.pk])
        response = auth_client(bob).post(
            "/api/devices",
            {"kind": "apns", "token": DEVICE_TOKEN, "topic": TOPIC, "sandbox": False},
            format="json",
        )
        assert response.status_code == 201, response.json()
        message, _ = services.message_send(sender=alice, room_id=room.pk, content="hello bob")
        return room.pk, message.pk

    async def test_a_message_reaches_the_phone(
        self,
        user_factory: Any,
        auth_client: Any,
        service: ApnsService,
        session: aiohttp.ClientSession,
    ) -> None:
        room_id, message_id = await run_sync(self.arrange, user_factory, auth_client)

        assert await delivery.deliver_due(session) == 1
        (push,) = service.received()
        assert push.error is None and push.path == f"/3/device/{DEVICE_TOKEN}"
        assert push.headers["apns-topic"] == TOPIC
        assert push.headers["apns-priority"] == "5"
        assert push.headers["apns-collapse-id"] == f"room:{room_id}"
        assert push.json() == {
            "aps": {
                "alert": {"title": "Alice in Team", "body": "hello bob"},
                "badge": 1,
                "thread-id": f"room:{room_id}",
            },
            "type": "message",
            "roomId": room_id,
            "messageId": message_id,
        }
        row = await run_sync(PushOutbox.objects.get)
        assert row.status == "sent" and row.sent_at is not None

    async def test_an_uninstalled_app_loses_its_device(
        self,
        user_factory: Any,
        auth_client: Any,
        service: ApnsService,
        session: aiohttp.ClientSession,
    ) -> None:
        await run_sync(self.arrange, user_factory, auth_client)
        service.answer(410, "Unregistered")

        assert await delivery.deliver_due(session) == 1
        assert await run_sync(Device.objects.count) == 0
        assert await run_sync(PushOutbox.objects.count) == 0


def test_the_endpoint_and_its_ca_come_from_settings(
    service: ApnsService, clock: Clock, apns_settings: None, settings: Any, tmp_path: Path
) -> None:
    """APNS_ENDPOINT and APNS_CA_FILE point the process's sender at a relay or a test
    server, with no code: what an operator (or an outside test) configures."""
    ca_file = tmp_path / "relay-ca.pem"
    ca_file.write_text(service.certificates.ca_pem())
    settings.BANTER = {
        **settings.BANTER,
        "APNS_ENDPOINT": service.base_url,
        "APNS_CA_FILE": str(ca_file),
    }

    async def one() -> str:
        async with aiohttp.ClientSession() as session:
            sender = ApnsSender(clock=clock)
            try:
                return (await sender.send(session, TARGET, message_push())).outcome
            finally:
                await sender.aclose()

    assert asyncio.run(one()) == "sent"
    (push,) = service.received()
    assert push.path == f"/3/device/{DEVICE_TOKEN}"
