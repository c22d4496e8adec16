"""The local Web Push service against the real client library (pywebpush and py_vapid).

If these pass, the harness accepts what a correct sender sends and refuses what real push
services refuse, so the server's sender can be tested against it end to end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from py_vapid import Vapid01, Vapid02
from pywebpush import WebPusher, WebPushException, webpush, webpush_async

from tests.push.webpush_service import PushService, Subscriber, b64url_decode, b64url_encode

CONTACT = "mailto:ops@example.com"
PAYLOAD = {"type": "message", "chat": 7, "body": "Hello, Alice"}


@pytest.fixture
def service() -> Iterator[PushService]:
    with PushService() as push_service:
        yield push_service


@pytest.fixture
def app_vapid() -> Any:
    """The application server's VAPID key pair, as py_vapid makes it (not named ``vapid``:
    that fixture of tests/push/conftest.py puts keys in Django settings)."""
    key = Vapid02()
    key.generate_keys()
    return key


def raw_private_key(app_vapid: Any) -> str:
    """The private key as servers store it in settings: the 32-octet scalar, base64url."""
    private_key: ec.EllipticCurvePrivateKey = app_vapid.private_key
    return b64url_encode(private_key.private_numbers().private_value.to_bytes(32, "big"))


def application_server_key(app_vapid: Any) -> str:
    """The public key given to ``pushManager.subscribe({applicationServerKey})``."""
    public_key: ec.EllipticCurvePublicKey = app_vapid.public_key
    return b64url_encode(
        public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    )


def send(subscriber: Subscriber, vapid_key: Any, **kwargs: Any) -> Any:
    """Send ``PAYLOAD`` with pywebpush as a server would (fresh claims each time: pywebpush
    adds ``aud`` and ``exp`` to the dict it is given)."""
    claims = kwargs.pop("vapid_claims", {"sub": CONTACT})
    return webpush(
        subscription_info=subscriber.subscription(),
        data=json.dumps(PAYLOAD),
        vapid_private_key=vapid_key,
        vapid_claims=claims,
        ttl=60,
        **kwargs,
    )


def make_jwt(
    private_key: ec.EllipticCurvePrivateKey,
    claims: Mapping[str, Any],
    header: Mapping[str, Any] | None = None,
) -> str:
    """An ES256 JWT built by hand, to send claims py_vapid would refuse to sign."""
    header_b64 = b64url_encode(json.dumps(header or {"typ": "JWT", "alg": "ES256"}).encode())
    claims_b64 = b64url_encode(json.dumps(claims).encode())
    signing_input = f"{header_b64}.{claims_b64}"
    r, s = decode_dss_signature(private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def post_by_hand(
    subscriber: Subscriber,
    headers: Mapping[str, str | None],
    body: bytes | None = None,
) -> requests.Response:
    """POST an encrypted payload with exactly these headers (``None`` drops a default one)."""
    if body is None:
        body = WebPusher(subscriber.subscription()).encode(json.dumps(PAYLOAD).encode())["body"]
    merged: dict[str, str | None] = {"Content-Encoding": "aes128gcm", "TTL": "60", **headers}
    sent = {key: value for key, value in merged.items() if value is not None}
    return requests.post(subscriber.endpoint, data=body, headers=sent, timeout=10)


def vapid_header(app_vapid: Any, service: PushService, **claims: Any) -> str:
    """The ``Authorization`` py_vapid signs for ``claims`` (valid ones by default)."""
    claims = {"aud": service.url, "exp": int(time.time()) + 3600, "sub": CONTACT, **claims}
    header: str = app_vapid.sign(claims)["Authorization"]
    return header


# -- the subscription -----------------------------------------------------------------------


def test_subscription_is_shaped_like_push_subscription_to_json(service: PushService) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))

    subscription = subscriber.subscription()

    assert subscription == {
        "endpoint": f"{service.url}/push/alice",
        "keys": {"p256dh": subscriber.p256dh, "auth": subscriber.auth},
    }
    assert service.url.startswith("http://127.0.0.1:")
    p256dh, auth = subscription["keys"]["p256dh"], subscription["keys"]["auth"]
    assert "=" not in p256dh + auth
    assert len(b64url_decode(p256dh)) == 65
    assert b64url_decode(p256dh)[0] == 0x04
    assert len(b64url_decode(auth)) == 16


# -- delivery -----------------------------------------------------------------------------


@pytest.mark.parametrize("key_form", ["vapid-instance", "raw-private-key"])
def test_pywebpush_message_is_received_verified_and_decryptable(
    service: PushService, app_vapid: Any, key_form: str
) -> None:
    service.expected_vapid_public_key = application_server_key(app_vapid)
    subscriber = Subscriber.create(service.endpoint("alice"))
    key = app_vapid if key_form == "vapid-instance" else raw_private_key(app_vapid)

    response = send(subscriber, key)

    assert response.status_code == 201
    assert response.headers["Location"].startswith(f"{service.url}/message/")
    [push] = service.wait_for(1, name="alice")
    assert push.error is None
    assert push.status == 201
    assert push.vapid_public_key == application_server_key(app_vapid)
    assert push.vapid_claims is not None
    assert push.vapid_claims["aud"] == service.url
    assert push.vapid_claims["sub"] == CONTACT
    assert push.headers["content-encoding"] == "aes128gcm"
    assert push.ttl == 60
    assert push.decrypt(subscriber) == PAYLOAD


def test_only_the_addressed_subscriber_can_decrypt(service: PushService, app_vapid: Any) -> None:
    alice = Subscriber.create(service.endpoint("alice"))
    mallory = Subscriber.create(service.endpoint("mallory"))

    send(alice, app_vapid)

    [push] = service.wait_for(1)
    with pytest.raises(Exception):  # noqa: B017 - http_ece raises a bare Exception/InvalidTag
        push.decrypt(mallory)


def test_legacy_webpush_scheme_with_crypto_key_is_accepted(
    service: PushService, app_vapid: Any
) -> None:
    legacy = Vapid01(private_key=app_vapid.private_key)
    subscriber = Subscriber.create(service.endpoint("alice"))

    send(subscriber, legacy)

    [push] = service.wait_for(1)
    assert push.headers["authorization"].startswith("WebPush ")
    assert push.error is None
    assert push.decrypt(subscriber) == PAYLOAD


def test_received_filters_by_name_and_keeps_order(service: PushService, app_vapid: Any) -> None:
    alice = Subscriber.create(service.endpoint("alice"))
    bob = Subscriber.create(service.endpoint("bob"))

    send(alice, app_vapid)
    send(bob, app_vapid)
    send(alice, app_vapid)

    assert [push.name for push in service.wait_for(3)] == ["alice", "bob", "alice"]
    assert len(service.received("alice")) == 2
    assert [push.decrypt(bob) for push in service.received("bob")] == [PAYLOAD]


async def test_async_sender_and_waiter(service: PushService, app_vapid: Any) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))
    waiting = asyncio.create_task(service.wait_for_async(2, name="alice", timeout=10))

    for _ in range(2):
        await webpush_async(
            subscription_info=subscriber.subscription(),
            data=json.dumps(PAYLOAD),
            vapid_private_key=app_vapid,
            vapid_claims={"sub": CONTACT},
            ttl=30,
        )

    pushes = await waiting
    assert [push.status for push in pushes] == [201, 201]
    assert all(push.decrypt(subscriber) == PAYLOAD for push in pushes)


async def test_wait_for_async_times_out(service: PushService) -> None:
    with pytest.raises(TimeoutError, match="expected 1 push"):
        await service.wait_for_async(1, timeout=0.1)


def test_wait_for_times_out(service: PushService) -> None:
    with pytest.raises(TimeoutError, match="expected 1 push"):
        service.wait_for(1, timeout=0.1)


# -- configured answers -------------------------------------------------------------------


def test_gone_subscription_raises_in_pywebpush(service: PushService, app_vapid: Any) -> None:
    service.respond("alice", 410)
    subscriber = Subscriber.create(service.endpoint("alice"))

    for _ in range(2):
        with pytest.raises(WebPushException) as excinfo:
            send(subscriber, app_vapid)
        assert excinfo.value.response.status_code == 410

    pushes = service.received("alice")
    assert [push.status for push in pushes] == [410, 410]
    assert all(push.error is None for push in pushes)  # a configured status is no error


def test_one_shot_statuses_apply_in_order_then_the_standing_one(
    service: PushService, app_vapid: Any
) -> None:
    service.respond("alice", 429, times=1, headers={"Retry-After": "5"})
    service.respond("alice", 500, times=1)
    subscriber = Subscriber.create(service.endpoint("alice"))

    with pytest.raises(WebPushException) as excinfo:
        send(subscriber, app_vapid)
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "5"
    with pytest.raises(WebPushException) as excinfo:
        send(subscriber, app_vapid)
    assert excinfo.value.response.status_code == 500
    assert send(subscriber, app_vapid).status_code == 201
    assert send(Subscriber.create(service.endpoint("bob")), app_vapid).status_code == 201


def test_clear_forgets_pushes_and_statuses(service: PushService, app_vapid: Any) -> None:
    service.respond("alice", 404)
    subscriber = Subscriber.create(service.endpoint("alice"))
    with pytest.raises(WebPushException):
        send(subscriber, app_vapid)

    service.clear()

    assert service.received() == []
    assert send(subscriber, app_vapid).status_code == 201


# -- VAPID (RFC 8292) ----------------------------------------------------------------------


def test_tampered_signature_is_rejected(service: PushService, app_vapid: Any) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))
    authorization = vapid_header(app_vapid, service)
    # Change a character in the middle of the signature: the last one may only carry padding
    # bits that a decoder ignores.
    position = authorization.index(",k=") - 20
    original = authorization[position]
    tampered = authorization[:position] + ("A" if original != "A" else "B")
    tampered += authorization[position + 1 :]

    response = post_by_hand(subscriber, {"Authorization": tampered})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "vapid"
    [push] = service.received("alice")
    assert push.status == 401
    assert push.error is not None
    assert "signature does not verify" in push.error
    assert push.vapid_claims is None  # claims are only trusted once the signature verified


def test_untampered_hand_built_request_is_accepted(service: PushService, app_vapid: Any) -> None:
    """The control for the tampering test: the same request, unmodified, passes."""
    subscriber = Subscriber.create(service.endpoint("alice"))

    response = post_by_hand(subscriber, {"Authorization": vapid_header(app_vapid, service)})

    assert response.status_code == 201
    assert service.received()[0].decrypt(subscriber) == PAYLOAD


def test_audience_of_another_origin_is_rejected(service: PushService, app_vapid: Any) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))

    with pytest.raises(WebPushException) as excinfo:
        send(subscriber, app_vapid, vapid_claims={"sub": CONTACT, "aud": "https://fcm.example.net"})

    assert excinfo.value.response.status_code == 401
    [push] = service.received()
    assert push.error is not None
    assert "aud 'https://fcm.example.net' is not this push service's origin" in push.error
    assert push.vapid_claims is not None
    assert push.vapid_claims["aud"] == "https://fcm.example.net"


def test_key_other_than_the_application_server_key_is_rejected(
    service: PushService, app_vapid: Any
) -> None:
    other = Vapid02()
    other.generate_keys()
    service.expected_vapid_public_key = application_server_key(other)
    subscriber = Subscriber.create(service.endpoint("alice"))

    with pytest.raises(WebPushException) as excinfo:
        send(subscriber, app_vapid)

    assert excinfo.value.response.status_code == 401
    assert "application server key" in (service.received()[0].error or "")


@pytest.mark.parametrize(
    ("claims", "header", "reason"),
    [
        ({"exp": -60}, None, "is in the past"),
        ({"exp": 25 * 3600}, None, "more than 24 hours ahead"),
        ({"exp": "tomorrow"}, None, "not a NumericDate"),
        ({"sub": "ops@example.com"}, None, "not a mailto: or https: URL"),
        ({"sub": "http://example.com"}, None, "not a mailto: or https: URL"),
        ({"sub": None}, None, "not a mailto: or https: URL"),
        ({"aud": "__origin__/"}, None, "is not this push service's origin"),
        ({}, {"typ": "JWT", "alg": "HS256"}, "alg is 'HS256'"),
        ({}, {"typ": "JOSE+JSON", "alg": "ES256"}, "typ is"),
    ],
)
def test_invalid_tokens_are_rejected(
    service: PushService,
    app_vapid: Any,
    claims: dict[str, Any],
    header: dict[str, Any] | None,
    reason: str,
) -> None:
    now = int(time.time())
    full_claims: dict[str, Any] = {"aud": service.url, "exp": now + 3600, "sub": CONTACT}
    full_claims.update(claims)
    if isinstance(full_claims["exp"], int) and "exp" in claims:
        full_claims["exp"] = now + claims["exp"]
    if full_claims["aud"] == "__origin__/":
        full_claims["aud"] = f"{service.url}/"
    token = make_jwt(app_vapid.private_key, full_claims, header)
    subscriber = Subscriber.create(service.endpoint("alice"))

    response = post_by_hand(
        subscriber, {"Authorization": f"vapid t={token}, k={application_server_key(app_vapid)}"}
    )

    assert response.status_code == 401, response.text
    assert reason in (service.received()[0].error or "")


def test_hand_built_token_with_rfc_spacing_is_accepted(
    service: PushService, app_vapid: Any
) -> None:
    """The control for the table above: ``vapid t=..., k=...`` as RFC 8292 §3 writes it."""
    claims = {"aud": service.url, "exp": int(time.time()) + 3600, "sub": "https://example.com"}
    token = make_jwt(app_vapid.private_key, claims)
    subscriber = Subscriber.create(service.endpoint("alice"))

    response = post_by_hand(
        subscriber, {"Authorization": f"vapid t={token}, k={application_server_key(app_vapid)}"}
    )

    assert response.status_code == 201, response.text
    assert service.received()[0].vapid_claims == claims


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "no Authorization header"),
        ("Bearer abc", "unsupported Authorization scheme"),
        ("vapid t=abc", "vapid scheme without k"),
        ("WebPush a.b.c", "without a Crypto-Key"),
        ("vapid t=a.b, k=BAAA", "not an uncompressed P-256 point"),
    ],
)
def test_malformed_authorization_is_rejected(
    service: PushService, authorization: str | None, reason: str
) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))

    response = post_by_hand(subscriber, {"Authorization": authorization})

    assert response.status_code == 401
    assert reason in (service.received()[0].error or "")


# -- the push request (RFC 8030, RFC 8291) ----------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({"TTL": None}, 400, "no TTL header"),
        ({"TTL": "-1"}, 400, "is not a non-negative integer"),
        ({"Content-Encoding": None}, 400, "no Content-Encoding header"),
        ({"Content-Encoding": "aesgcm"}, 400, "is not aes128gcm"),
        ({"Urgency": "urgent"}, 400, "Urgency 'urgent'"),
        ({"Topic": "no spaces allowed"}, 400, "Topic"),
    ],
)
def test_bad_push_headers_are_rejected(
    service: PushService,
    app_vapid: Any,
    headers: dict[str, str | None],
    status: int,
    reason: str,
) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))

    response = post_by_hand(
        subscriber, {"Authorization": vapid_header(app_vapid, service), **headers}
    )

    assert response.status_code == status
    assert reason in (service.received()[0].error or "")


def test_pywebpush_with_the_old_aesgcm_coding_is_rejected(
    service: PushService, app_vapid: Any
) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))

    with pytest.raises(WebPushException) as excinfo:
        send(subscriber, app_vapid, content_encoding="aesgcm")

    assert excinfo.value.response.status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"\x00" * 5000, 413, "exceeds 4096"),
        (b"not encrypted at all", 400, "has no header"),
        (bytes(16) + (4096).to_bytes(4, "big") + b"\x00" + bytes(40), 400, "keyid"),
    ],
)
def test_bodies_that_are_not_rfc8291_messages_are_rejected(
    service: PushService, app_vapid: Any, body: bytes, status: int, reason: str
) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))

    response = post_by_hand(subscriber, {"Authorization": vapid_header(app_vapid, service)}, body)

    assert response.status_code == status
    assert reason in (service.received()[0].error or "")


def test_push_without_payload_needs_no_encoding(service: PushService, app_vapid: Any) -> None:
    subscriber = Subscriber.create(service.endpoint("alice"))

    response = post_by_hand(
        subscriber,
        {"Authorization": vapid_header(app_vapid, service), "Content-Encoding": None},
        body=b"",
    )

    assert response.status_code == 201
    assert service.received()[0].body == b""
