"""FCM (push/fcm.py): the message built for a push, how FCM's answers are classified, the
sender against a local FCM (tests/push/fcm_service.py) that checks google-auth's signed token
grant and the HTTP v1 request as Google would, and a message in a room delivered end to end
to an FCM device registered over REST."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from banter.accounts.models import User
from banter.realtime.dispatch import run_sync
from chat import services
from chat.models import Room
from push import delivery, fcm
from push.fcm import QUOTA_WAIT, SCOPE, FcmSender, classify, message
from push.models import Device, PushOutbox
from push.targets import Push, PushResult, Target
from tests.push.fcm_service import (
    BAD_REQUEST,
    FCM_ERROR,
    GOOGLE_TOKEN_AUDIENCE,
    JWT_BEARER,
    FcmService,
)

# What a phone's Firebase SDK hands the app (shape only: FCM does not check it locally).
TOKEN = "dXNlci1waG9uZS0x:APA91bF3k2Xq-0pZ7vGmZ_example_registration_token"
TARGET = Target(kind="fcm", token=TOKEN)
PAYLOAD: dict[str, Any] = {
    "type": "message",
    "roomId": 7,
    "messageId": 42,
    "title": "Alice in Team",
    "body": "hello bob",
    "badge": 3,
}


def a_push(**changes: Any) -> Push:
    fields: dict[str, Any] = {
        "payload": PAYLOAD,
        "ttl": 3600,
        "urgent": False,
        "collapse_key": "room:7",
    }
    return Push(**{**fields, **changes})


def free_port() -> int:
    """A port nothing listens on (bound, then closed: connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fcm_service() -> Iterator[FcmService]:
    with FcmService() as service:
        yield service


@pytest.fixture
def key_file(tmp_path: Path, fcm_service: FcmService) -> Path:
    return fcm_service.account.write(tmp_path / "firebase-service-account.json")


@pytest.fixture
def fcm_settings(settings: Any, fcm_service: FcmService, key_file: Path) -> Any:
    settings.BANTER = {
        **settings.BANTER,
        "FCM_CREDENTIALS": str(key_file),
        "FCM_ENDPOINT": fcm_service.url,
        "FCM_PROJECT_ID": "",
    }
    return settings


@pytest.fixture
def sender(fcm_settings: Any) -> FcmSender:
    return FcmSender()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def fcm_error(
    status: int, code: str | None = None, message: str = "", rpc: str = "", **extra: Any
) -> bytes:
    details: list[dict[str, Any]] = [{"@type": FCM_ERROR, "errorCode": code}] if code else []
    details += extra.get("details", [])
    error = {"code": status, "message": message, "status": rpc, "details": details}
    return json.dumps({"error": error}).encode()


class TestMessage:
    def test_every_field_of_an_urgent_push(self) -> None:
        built = message(TOKEN, a_push(urgent=True, ttl=600, collapse_key="call:9"), now=1000.9)
        assert built == {
            "token": TOKEN,
            "data": {
                "type": "message",
                "roomId": "7",
                "messageId": "42",
                "title": "Alice in Team",
                "body": "hello bob",
                "badge": "3",
            },
            "notification": {"title": "Alice in Team", "body": "hello bob"},
            "android": {
                "priority": "HIGH",
                "ttl": "600s",
                "collapse_key": "call:9",
                "notification": {"tag": "call:9", "notification_count": 3},
            },
            "apns": {
                "headers": {
                    "apns-priority": "10",
                    "apns-collapse-id": "call:9",
                    "apns-expiration": "1600",
                },
                "payload": {"aps": {"badge": 3}},
            },
            "webpush": {"headers": {"TTL": "600", "Urgency": "high", "Topic": "call-9"}},
        }

    def test_an_ordinary_push_may_wait(self) -> None:
        built = message(TOKEN, a_push(), now=0)
        assert built["android"]["priority"] == "NORMAL"
        assert built["apns"]["headers"]["apns-priority"] == "5"
        assert built["webpush"]["headers"]["Urgency"] == "normal"

    @pytest.mark.parametrize(
        ("value", "sent"),
        [("text", "text"), (12, "12"), (True, "true"), ([1, 2], "[1,2]"), ({"a": 1}, '{"a":1}')],
    )
    def test_data_values_are_strings(self, value: Any, sent: str) -> None:
        built = message(TOKEN, a_push(payload={**PAYLOAD, "extra": value}), now=0)
        assert built["data"]["extra"] == sent

    def test_a_push_with_no_time_left_is_tried_once(self) -> None:
        built = message(TOKEN, a_push(ttl=0), now=5000)
        assert built["android"]["ttl"] == "0s"
        assert built["apns"]["headers"]["apns-expiration"] == "0"


BAD_TOKEN = "The registration token is not a valid FCM registration token"
TOKEN_VIOLATION = {
    "@type": BAD_REQUEST,
    "fieldViolations": [{"field": "message.token", "description": BAD_TOKEN}],
}


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "answer", "retry_after", "outcome", "wait"),
        [
            (200, b'{"name": "projects/p/messages/1"}', None, "sent", None),
            (404, fcm_error(404, "UNREGISTERED", rpc="NOT_FOUND"), None, "gone", None),
            (
                400,
                fcm_error(
                    400,
                    "INVALID_ARGUMENT",
                    BAD_TOKEN,
                    "INVALID_ARGUMENT",
                    details=[TOKEN_VIOLATION],
                ),
                None,
                "gone",
                None,
            ),
            (
                400,
                fcm_error(400, "INVALID_ARGUMENT", BAD_TOKEN, "INVALID_ARGUMENT"),
                None,
                "gone",
                None,
            ),
            (
                400,
                fcm_error(400, "INVALID_ARGUMENT", "data must be strings", "INVALID_ARGUMENT"),
                None,
                "failed",
                None,
            ),
            (
                403,
                fcm_error(403, "SENDER_ID_MISMATCH", rpc="PERMISSION_DENIED"),
                None,
                "gone",
                None,
            ),
            (400, fcm_error(400, "SENDER_ID_MISMATCH"), None, "gone", None),
            # A 404 that FCM does not say is about the token (a wrong project or endpoint)
            # must not delete the device.
            (404, b"<html>Not Found</html>", None, "failed", None),
            (
                404,
                fcm_error(404, None, "Requested entity was not found.", "NOT_FOUND"),
                None,
                "failed",
                None,
            ),
            (429, fcm_error(429, "QUOTA_EXCEEDED"), "30", "retry", 30.0),
            (429, fcm_error(429, "QUOTA_EXCEEDED"), None, "retry", QUOTA_WAIT),
            (503, fcm_error(503, "UNAVAILABLE"), " 7 ", "retry", 7.0),
            (500, fcm_error(500, "INTERNAL"), None, "retry", None),
            (502, b"<html>Bad Gateway</html>", "soon", "retry", None),
            (
                401,
                fcm_error(401, None, "Request had invalid credentials", "UNAUTHENTICATED"),
                None,
                "retry",
                None,
            ),
            (401, fcm_error(401, "THIRD_PARTY_AUTH_ERROR"), None, "failed", None),
            (
                403,
                fcm_error(403, None, "Permission denied", "PERMISSION_DENIED"),
                None,
                "failed",
                None,
            ),
            (302, b"", None, "failed", None),
        ],
    )
    def test_answers(
        self, status: int, answer: bytes, retry_after: str | None, outcome: str, wait: float | None
    ) -> None:
        result = classify(status, answer, retry_after)
        assert (result.outcome, result.status, result.retry_after) == (outcome, status, wait)

    def test_retry_after_as_a_date(self) -> None:
        when = format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
        result = classify(503, fcm_error(503, "UNAVAILABLE"), when)
        assert result.retry_after is not None and 85 <= result.retry_after <= 90

    def test_the_detail_names_the_error(self) -> None:
        result = classify(
            404, fcm_error(404, "UNREGISTERED", "Requested entity was not found."), None
        )
        assert result.detail == "UNREGISTERED Requested entity was not found."


class TestConfigured:
    def test_needs_a_readable_key_file(self, settings: Any, key_file: Path) -> None:
        sender = FcmSender()
        settings.BANTER = {**settings.BANTER, "FCM_CREDENTIALS": ""}
        assert not sender.configured()
        settings.BANTER = {**settings.BANTER, "FCM_CREDENTIALS": str(key_file.with_name("no.json"))}
        assert not sender.configured()
        settings.BANTER = {**settings.BANTER, "FCM_CREDENTIALS": str(key_file)}
        assert sender.configured()


class TestSending:
    async def test_the_request_that_leaves_the_machine(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        push = a_push(urgent=True)
        before = int(time.time())
        result = await sender.send(session, TARGET, push)
        after = int(time.time())

        assert result == PushResult("sent", 200)
        # The token grant: google-auth's JWT assertion, signed with the key file's key.
        (grant,) = fcm_service.token_requests()
        assert grant.error is None and grant.form["grant_type"] == JWT_BEARER
        assert grant.header is not None and grant.header["alg"] == "RS256"
        assert grant.claims is not None
        assert grant.claims["iss"] == fcm_service.account.client_email
        assert grant.claims["aud"] == GOOGLE_TOKEN_AUDIENCE
        assert grant.claims["scope"] == SCOPE
        # The send: the URL, the headers, and the message field by field.
        (sent,) = fcm_service.received()
        assert sent.error is None and sent.status == 200
        assert sent.path == "/v1/projects/banter-test/messages:send"
        assert sent.headers["authorization"] == f"Bearer {grant.access_token}"
        assert sent.headers["content-type"] == "application/json; charset=UTF-8"
        body = sent.message
        expiration = int(body["apns"]["headers"].pop("apns-expiration"))
        assert before + 3600 <= expiration <= after + 3600
        expected = message(TOKEN, push, now=0)
        del expected["apns"]["headers"]["apns-expiration"]
        assert sent.json == {"message": expected}
        assert body["android"] == {
            "priority": "HIGH",
            "ttl": "3600s",
            "collapse_key": "room:7",
            "notification": {"tag": "room:7", "notification_count": 3},
        }
        assert body["data"] == {
            "type": "message",
            "roomId": "7",
            "messageId": "42",
            "title": "Alice in Team",
            "body": "hello bob",
            "badge": "3",
        }
        assert body["notification"] == {"title": "Alice in Team", "body": "hello bob"}

    async def test_the_access_token_is_reused(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        for _ in range(3):
            assert (await sender.send(session, TARGET, a_push())).outcome == "sent"
        (grant,) = fcm_service.token_requests()
        bearers = {m.headers["authorization"] for m in fcm_service.received()}
        assert bearers == {f"Bearer {grant.access_token}"}

    async def test_concurrent_sends_wait_for_one_token_request(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        results = await asyncio.gather(*(sender.send(session, TARGET, a_push()) for _ in range(10)))
        assert {r.outcome for r in results} == {"sent"}
        assert len(fcm_service.token_requests()) == 1

    async def test_a_token_about_to_expire_is_renewed_first(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.token_lifetime = 60  # under google-auth's refresh margin: stale at once
        await sender.send(session, TARGET, a_push())
        await sender.send(session, TARGET, a_push())
        assert len(fcm_service.token_requests()) == 2
        assert [m.status for m in fcm_service.received()] == [200, 200]

    async def test_a_refused_token_is_replaced_and_the_push_sent(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        await sender.send(session, TARGET, a_push())
        fcm_service.revoke_tokens()

        assert (await sender.send(session, TARGET, a_push())).outcome == "sent"
        _first, second = fcm_service.token_requests()
        assert [m.status for m in fcm_service.received()] == [200, 401, 200]
        assert fcm_service.received()[2].headers["authorization"] == f"Bearer {second.access_token}"

    async def test_a_second_401_goes_back_to_the_outbox(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(TOKEN, 401, times=2)
        result = await sender.send(session, TARGET, a_push())
        assert (result.outcome, result.status) == ("retry", 401)
        assert len(fcm_service.token_requests()) == 2
        # That token was dropped too: the next send asks for a new one.
        assert (await sender.send(session, TARGET, a_push())).outcome == "sent"
        assert len(fcm_service.token_requests()) == 3

    async def test_an_unregistered_token_is_gone(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(TOKEN, 404, "UNREGISTERED", message="Requested entity was not found.")
        result = await sender.send(session, TARGET, a_push())
        assert (result.outcome, result.status) == ("gone", 404)
        assert "UNREGISTERED" in result.detail

    async def test_an_answer_arriving_in_pieces_is_read_whole(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        # The errorCode is in the second piece: read short, a 404 would not say UNREGISTERED.
        fcm_service.respond(TOKEN, 404, "UNREGISTERED", chunked=True)
        assert (await sender.send(session, TARGET, a_push())).outcome == "gone"

    async def test_a_huge_answer_is_cut(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(TOKEN, 503, "UNAVAILABLE", message="x" * 100_000)
        result = await sender.send(session, TARGET, a_push())
        assert (result.outcome, result.status) == ("retry", 503)
        assert len(result.detail) <= 200

    @pytest.mark.parametrize("status", [400, 403])
    async def test_a_token_of_another_project_is_gone(
        self,
        sender: FcmSender,
        fcm_service: FcmService,
        session: aiohttp.ClientSession,
        status: int,
    ) -> None:
        fcm_service.respond(TOKEN, status, "SENDER_ID_MISMATCH")
        assert (await sender.send(session, TARGET, a_push())).outcome == "gone"

    async def test_a_malformed_token_is_gone(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(
            TOKEN, 400, "INVALID_ARGUMENT", message=BAD_TOKEN, details=[TOKEN_VIOLATION]
        )
        assert (await sender.send(session, TARGET, a_push())).outcome == "gone"

    async def test_unavailable_is_retried_when_fcm_says(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(TOKEN, 503, "UNAVAILABLE", headers={"Retry-After": "120"})
        result = await sender.send(session, TARGET, a_push())
        assert (result.outcome, result.status, result.retry_after) == ("retry", 503, 120.0)

    async def test_an_unknown_403_fails(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(TOKEN, 403, message="The caller does not have permission")
        result = await sender.send(session, TARGET, a_push())
        assert (result.outcome, result.status) == ("failed", 403)

    async def test_a_third_party_auth_error_fails_without_a_new_token(
        self, sender: FcmSender, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(TOKEN, 401, "THIRD_PARTY_AUTH_ERROR")
        result = await sender.send(session, TARGET, a_push())
        assert (result.outcome, result.status) == ("failed", 401)
        assert len(fcm_service.token_requests()) == 1 and len(fcm_service.received()) == 1

    async def test_the_project_id_setting_wins(
        self,
        sender: FcmSender,
        fcm_service: FcmService,
        session: aiohttp.ClientSession,
        settings: Any,
    ) -> None:
        settings.BANTER = {**settings.BANTER, "FCM_PROJECT_ID": "other-project"}
        result = await sender.send(session, TARGET, a_push())
        (sent,) = fcm_service.received()
        assert sent.path == "/v1/projects/other-project/messages:send"
        assert (result.outcome, result.status) == ("failed", 403)  # not this account's project


class TestTroubles:
    async def test_an_unreachable_fcm_is_retried(
        self, sender: FcmSender, session: aiohttp.ClientSession, settings: Any
    ) -> None:
        settings.BANTER = {**settings.BANTER, "FCM_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
        result = await sender.send(session, TARGET, a_push())
        assert result.outcome == "retry" and result.status is None

    async def test_a_slow_answer_is_retried(
        self,
        sender: FcmSender,
        fcm_service: FcmService,
        session: aiohttp.ClientSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(fcm, "TIMEOUT", aiohttp.ClientTimeout(total=0.2))
        fcm_service.respond(TOKEN, 200, delay=1)
        result = await sender.send(session, TARGET, a_push())
        assert result.outcome == "retry" and "Timeout" in result.detail
        await asyncio.to_thread(fcm_service.wait_for, 1)  # its handler ends before the fake

    async def test_a_key_the_token_endpoint_does_not_know_fails(
        self,
        fcm_service: FcmService,
        session: aiohttp.ClientSession,
        settings: Any,
        tmp_path: Path,
    ) -> None:
        # The same account and key id, another private key: only the signature is wrong.
        stranger = dataclasses.replace(
            fcm_service.account, private_key=rsa.generate_private_key(65537, 2048)
        ).write(tmp_path / "other.json")
        settings.BANTER = {
            **settings.BANTER,
            "FCM_CREDENTIALS": str(stranger),
            "FCM_ENDPOINT": fcm_service.url,
        }
        result = await FcmSender().send(session, TARGET, a_push())
        assert result.outcome == "failed" and "invalid_grant" in result.detail
        (grant,) = fcm_service.token_requests()
        assert grant.error == "Invalid JWT Signature."
        assert fcm_service.received() == []

    async def test_an_unreachable_token_endpoint_is_retried(
        self,
        fcm_service: FcmService,
        session: aiohttp.ClientSession,
        settings: Any,
        tmp_path: Path,
    ) -> None:
        key = {**fcm_service.account.key_file(), "token_uri": f"http://127.0.0.1:{free_port()}/t"}
        path = tmp_path / "key.json"
        path.write_text(json.dumps(key))
        settings.BANTER = {
            **settings.BANTER,
            "FCM_CREDENTIALS": str(path),
            "FCM_ENDPOINT": fcm_service.url,
        }
        result = await FcmSender().send(session, TARGET, a_push())
        assert result.outcome == "retry" and "token request" in result.detail

    @pytest.mark.parametrize("content", ["not json", '{"type": "service_account"}'])
    async def test_a_broken_key_file_fails(
        self, session: aiohttp.ClientSession, settings: Any, tmp_path: Path, content: str
    ) -> None:
        path = tmp_path / "key.json"
        path.write_text(content)
        settings.BANTER = {**settings.BANTER, "FCM_CREDENTIALS": str(path)}
        result = await FcmSender().send(session, TARGET, a_push())
        assert result.outcome == "failed" and result.detail.startswith("FCM credentials")

    async def test_a_bug_does_not_escape(
        self,
        sender: FcmSender,
        session: aiohttp.ClientSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
            raise RuntimeError("boom")

        monkeypatch.setattr(fcm, "message", broken)
        result = await sender.send(session, TARGET, a_push())
        assert result == PushResult("failed", detail="RuntimeError: boom")


@pytest.mark.django_db(transaction=True)
class TestDelivery:
    """The real path: a device registered over REST, a message sent in a room, the delivery
    loop's round, and the FCM registered as the `fcm` sender (push/senders.py)."""

    @pytest.fixture(autouse=True)
    def no_grace(self, fcm_settings: Any) -> None:
        fcm_settings.BANTER = {**fcm_settings.BANTER, "PRESENCE_OFFLINE_GRACE": 0.0}

    @pytest.fixture
    async def room(self, user_factory: Any, auth_client: Any) -> Room:
        def build() -> Room:
            alice = user_factory(username="alice", display_name="Alice")
            bob = user_factory(username="bob")
            response = auth_client(bob).post(
                "/api/devices", {"kind": "fcm", "token": TOKEN}, format="json"
            )
            assert response.status_code == 201, response.json()
            assert response.json()["kind"] == "fcm"
            return services.room_create(creator=alice, name="Team", member_ids=[bob.pk])

        return await run_sync(build)

    @staticmethod
    def send(room: Room, content: str) -> int:
        alice = User.objects.get(username="alice")
        message_sent, _ = services.message_send(sender=alice, room_id=room.pk, content=content)
        return message_sent.pk

    async def test_a_message_reaches_the_fcm_device(
        self, room: Room, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        message_id = await run_sync(self.send, room, "hello bob")

        assert await delivery.deliver_due(session) == 1
        (sent,) = fcm_service.received(TOKEN)
        assert sent.error is None and sent.status == 200
        body = sent.message
        assert body["data"] == {
            "type": "message",
            "roomId": str(room.pk),
            "messageId": str(message_id),
            "title": "Alice in Team",
            "body": "hello bob",
            "badge": "1",
        }
        assert body["notification"] == {"title": "Alice in Team", "body": "hello bob"}
        android = body["android"]
        assert (android["priority"], android["collapse_key"]) == ("NORMAL", f"room:{room.pk}")
        assert re.fullmatch(r"[0-9]+s", android["ttl"]) and 0 < int(android["ttl"][:-1]) <= 86400
        row = await run_sync(PushOutbox.objects.get)
        assert row.status == "sent"
        device = await run_sync(Device.objects.get)
        assert device.last_success_at is not None

    async def test_a_mention_wakes_the_device(
        self, room: Room, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        await run_sync(self.send, room, "hey @bob look")
        await delivery.deliver_due(session)
        (sent,) = fcm_service.received(TOKEN)
        assert sent.message["android"]["priority"] == "HIGH"
        assert sent.message["data"]["type"] == "mention"

    async def test_an_unregistered_token_removes_the_device(
        self, room: Room, fcm_service: FcmService, session: aiohttp.ClientSession
    ) -> None:
        fcm_service.respond(TOKEN, 404, "UNREGISTERED")
        await run_sync(self.send, room, "anyone?")
        await delivery.deliver_due(session)
        assert len(fcm_service.received(TOKEN)) == 1
        assert not await run_sync(Device.objects.exists)
        assert not await run_sync(PushOutbox.objects.exists)
