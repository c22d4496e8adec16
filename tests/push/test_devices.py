"""Push devices over REST: register, move, cap, list, delete; the VAPID key; the room mute
and the user's push settings."""

from __future__ import annotations

from typing import Any

import pytest

from banter.accounts.models import User
from chat import services
from push.models import Device, PushOutbox
from tests.chat.test_api import assert_error
from tests.push.conftest import subscription

pytestmark = pytest.mark.django_db

AuthClient = Any


@pytest.fixture
def alice(user_factory: Any) -> User:
    return user_factory(username="alice")


def register(client: Any, sub: dict[str, Any], kind: str = "webpush") -> Any:
    return client.post("/api/devices", {"kind": kind, "subscription": sub}, format="json")


@pytest.mark.usefixtures("vapid")
class TestRegistration:
    def test_register_list_delete(self, auth_client: AuthClient, alice: User) -> None:
        client = auth_client(alice)
        response = register(client, subscription())
        assert response.status_code == 201, response.json()
        body = response.json()
        assert set(body) == {"id", "kind", "createdAt", "endpoint", "lastSuccessAt"}
        assert body["kind"] == "webpush"

        assert [d["id"] for d in client.get("/api/devices").json()] == [body["id"]]
        assert client.delete(f"/api/devices/{body['id']}").status_code == 204
        assert client.get("/api/devices").json() == []
        assert_error(client.delete(f"/api/devices/{body['id']}"), 404, "not_found")

    def test_the_same_endpoint_moves_to_the_caller(
        self, auth_client: AuthClient, alice: User, user_factory: Any
    ) -> None:
        bob = user_factory(username="bob")
        sub = subscription("http://127.0.0.1:9/push/shared")
        first = register(auth_client(alice), sub).json()
        again = register(auth_client(bob), sub)
        assert again.status_code == 200 and again.json()["id"] == first["id"]
        assert Device.objects.get().user_id == bob.pk
        assert auth_client(alice).get("/api/devices").json() == []

    def test_at_most_n_devices_the_oldest_go(
        self, auth_client: AuthClient, alice: User, settings: Any
    ) -> None:
        settings.BANTER = {**settings.BANTER, "PUSH_MAX_DEVICES": 2}
        client = auth_client(alice)
        ids = [
            register(client, subscription(f"http://127.0.0.1:9/push/{i}")).json()["id"]
            for i in range(3)
        ]
        assert [d["id"] for d in client.get("/api/devices").json()] == ids[1:]

    def test_someone_elses_device_cannot_be_deleted(
        self, auth_client: AuthClient, alice: User, user_factory: Any
    ) -> None:
        device = register(auth_client(alice), subscription()).json()
        other = auth_client(user_factory(username="mallory"))
        assert_error(other.delete(f"/api/devices/{device['id']}"), 404, "not_found")
        assert Device.objects.count() == 1

    @pytest.mark.parametrize(
        ("kind", "sub"),
        [
            ("fcm", subscription()),
            ("webpush", {"endpoint": "http://127.0.0.1:9/x"}),
            ("webpush", {**subscription(), "keys": {"p256dh": "short", "auth": "AAAA"}}),
            (
                "webpush",
                {
                    **subscription(),
                    "keys": {"p256dh": subscription()["keys"]["p256dh"], "auth": "!!"},
                },
            ),
            ("webpush", subscription("https://10.0.0.1/push")),  # a private address
            ("webpush", subscription("http://10.0.0.1/push")),  # http to a non-loopback host
            ("webpush", subscription("http://169.254.169.254/latest/meta-data")),
        ],
    )
    def test_bad_registrations(
        self, auth_client: AuthClient, alice: User, kind: str, sub: dict[str, Any]
    ) -> None:
        assert_error(register(auth_client(alice), sub, kind), 400, "validation_error")
        assert not Device.objects.exists()

    def test_vapid_public_key_is_public(self, api_client: Any, vapid: str) -> None:
        assert api_client.get("/api/push/vapid-public-key").json() == {"publicKey": vapid}


def test_without_vapid_keys_web_push_is_off(
    auth_client: AuthClient, alice: User, api_client: Any, settings: Any
) -> None:
    settings.BANTER = {**settings.BANTER, "VAPID_PUBLIC_KEY": "", "VAPID_PRIVATE_KEY": ""}
    body = assert_error(register(auth_client(alice), subscription()), 400, "validation_error")
    assert "not configured" in body["message"]
    assert_error(api_client.get("/api/push/vapid-public-key"), 404, "not_found")


def test_room_mute_and_user_settings(
    auth_client: AuthClient, alice: User, user_factory: Any
) -> None:
    room = services.room_create(creator=alice, name="Team")
    client = auth_client(alice)
    response = client.patch(f"/api/rooms/{room.pk}/notifications", {"muted": True}, format="json")
    assert response.json() == {"roomId": room.pk, "muted": True}
    outsider = auth_client(user_factory(username="eve"))
    assert outsider.patch(
        f"/api/rooms/{room.pk}/notifications", {"muted": True}, format="json"
    ).status_code in (403, 404)
    assert_error(
        client.patch(f"/api/rooms/{room.pk}/notifications", {}, format="json"),
        400,
        "validation_error",
    )

    me = client.patch("/api/users/me", {"doNotDisturb": True, "pushPreviews": False}, format="json")
    assert me.status_code == 200
    assert (me.json()["doNotDisturb"], me.json()["pushPreviews"]) == (True, False)


@pytest.mark.usefixtures("vapid")
def test_the_browsers_push_services_register_without_a_dns_lookup(
    auth_client: AuthClient, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default PUSH_ALLOWED_HOSTS names the browsers' push services: a subscription to
    one registers by name (each send still resolves and checks the addresses); any other
    host is refused."""

    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no lookup at registration for a known push service")

    monkeypatch.setattr("socket.getaddrinfo", no_dns)
    client = auth_client(alice)
    for endpoint in (
        "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bE",
        "https://updates.push.services.mozilla.com/wpush/v2/gAAAAABk",
        "https://wns2-by3p.notify.windows.com/w/?token=BQYAAAB",
        "https://web.push.apple.com/QGuQyavXutnMH",
    ):
        assert register(client, subscription(endpoint)).status_code == 201, endpoint
    body = assert_error(
        register(client, subscription("https://push.example.net/x")), 400, "validation_error"
    )
    assert "not an allowed push service" in body["message"]


def test_phone_tokens_are_kept_before_their_credentials_but_queue_nothing(
    auth_client: AuthClient, alice: User, user_factory: Any, settings: Any
) -> None:
    settings.BANTER = {**settings.BANTER, "FCM_CREDENTIALS": "", "APNS_KEY": ""}
    client = auth_client(alice)
    assert register_token(client, {"kind": "fcm", "token": "fcm-token-1"}).status_code == 201
    apns = register_token(
        client, {"kind": "apns", "token": "ab" * 32, "topic": "com.example.app", "sandbox": True}
    )
    assert apns.status_code == 201 and apns.json()["kind"] == "apns"
    assert len(client.get("/api/devices").json()) == 2

    bob = user_factory(username="bob")
    room = services.room_create(creator=bob, name="R", member_ids=[alice.pk])
    services.message_send(sender=bob, room_id=room.pk, content="no credentials yet")
    assert not PushOutbox.objects.exists()


def register_token(client: Any, body: dict[str, Any]) -> Any:
    return client.post("/api/devices", body, format="json")
