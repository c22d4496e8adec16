"""Call media: Agora channels and tokens when configured (calls/media.py), the WebRTC relay
otherwise, `call:token-refresh`, and the ICE servers of `GET /api/calls/config`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from banter.accounts.models import User
from banter.core.errors import BanterError, ErrorCode
from banter.realtime.broadcast import capture_broadcasts, user_group
from calls import media, payloads, services
from calls.agora_token import AccessToken2, RtcPrivilege
from calls.models import CallLog
from chat import services as chat_services

pytestmark = pytest.mark.django_db

APP_ID = "970CA35de60c44645bbae8a215061b33"
CERTIFICATE = "5CFd2fd1755d40ecb72977518be15d3b"


@pytest.fixture
def agora(settings: Any) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "AGORA_APP_ID": APP_ID,
        "AGORA_APP_CERTIFICATE": CERTIFICATE,
        "CALL_RING_TIMEOUT": 60.0,
        "CALL_MAX_DURATION": 3600.0,
    }


@pytest.fixture
def pair(user_factory: Any) -> tuple[User, User]:
    caller, receiver = user_factory(username="caller"), user_factory(username="receiver")
    chat_services.direct_room_get_or_create(user=caller, other_user_id=receiver.pk)
    return caller, receiver


def ring(pair: tuple[User, User]) -> CallLog:
    caller, receiver = pair
    return services.call_initiate(caller=caller, receiver_id=receiver.pk, call_type="video")


def test_without_agora_calls_are_webrtc_and_carry_no_token(pair: tuple[User, User]) -> None:
    caller, receiver = pair
    with capture_broadcasts() as sent:
        call = ring(pair)
    assert call.media == "webrtc" and call.channel == ""
    by_event = {(b.event, b.group): b.args[0] for b in sent}
    incoming = by_event[(payloads.CALL_INCOMING, user_group(receiver.pk))]
    initiated = by_event[(payloads.CALL_INITIATED, user_group(caller.pk))]
    for payload in (incoming, initiated):
        assert payload["media"] == "webrtc" and payload["callId"] == call.pk
        assert payload["token"] is None and payload["channel"] is None
        assert payload["call"]["id"] == call.pk  # the seed's {call, token} shape too
    services.call_accept(user=receiver, call_id=call.pk)
    with pytest.raises(BanterError) as refused:
        services.call_for_token(user=caller, call_id=call.pk)
    assert refused.value.code is ErrorCode.CONFLICT
    assert refused.value.details["media"] == "webrtc"


def agora_rtc(token: str | None) -> Any:
    assert token is not None
    parsed = AccessToken2.parse(token)
    assert parsed.app_id == APP_ID
    [rtc] = parsed.services
    return parsed, rtc


@pytest.mark.usefixtures("agora")
def test_with_agora_each_side_gets_its_own_token_for_one_random_channel(
    pair: tuple[User, User],
) -> None:
    caller, receiver = pair
    with capture_broadcasts() as sent:
        call = ring(pair)
    assert call.media == "agora" and call.channel.startswith("banter-")
    assert len(call.channel) <= 64

    by_event = {(b.event, b.group): b.args[0] for b in sent}
    incoming = by_event[(payloads.CALL_INCOMING, user_group(receiver.pk))]
    initiated = by_event[(payloads.CALL_INITIATED, user_group(caller.pk))]
    for payload, user in ((incoming, receiver), (initiated, caller)):
        assert payload["media"] == "agora" and payload["appId"] == APP_ID
        assert payload["channel"] == call.channel and payload["uid"] == user.pk
        parsed, rtc = agora_rtc(payload["token"])
        assert rtc.channel_name == call.channel and rtc.uid == user.pk
        # Publisher: join and publish, for the ring plus the longest call.
        assert set(rtc.privileges) == {int(p) for p in RtcPrivilege}
        assert set(rtc.privileges.values()) == {3660} and parsed.expire == 3660
    assert incoming["token"] != initiated["token"]


@pytest.mark.usefixtures("agora")
def test_token_refresh_only_for_participants_of_an_answered_call(
    pair: tuple[User, User], user_factory: Any
) -> None:
    caller, receiver = pair
    call = ring(pair)
    with pytest.raises(BanterError) as ringing:
        services.call_for_token(user=caller, call_id=call.pk)
    assert ringing.value.code is ErrorCode.CONFLICT
    services.call_accept(user=receiver, call_id=call.pk)
    with pytest.raises(BanterError) as outsider:
        services.call_for_token(user=user_factory(), call_id=call.pk)
    assert outsider.value.code is ErrorCode.FORBIDDEN

    fresh = payloads.call_with_media_payload(
        services.call_for_token(user=receiver, call_id=call.pk), receiver.pk
    )
    _, rtc = agora_rtc(fresh["token"])
    assert rtc.uid == receiver.pk and rtc.channel_name == call.channel

    ended = services.call_end(user=caller, call_id=call.pk)
    assert payloads.call_with_media_payload(ended, caller.pk)["token"] is None


def test_a_call_started_on_agora_stays_agora(settings: Any, pair: tuple[User, User]) -> None:
    """A call keeps the media it started with; tokens stop when the keys are gone."""
    settings.BANTER = {
        **settings.BANTER,
        "AGORA_APP_ID": APP_ID,
        "AGORA_APP_CERTIFICATE": CERTIFICATE,
    }
    call = ring(pair)
    settings.BANTER = {**settings.BANTER, "AGORA_APP_ID": "", "AGORA_APP_CERTIFICATE": ""}
    payload = payloads.call_with_media_payload(call, pair[0].pk)
    assert payload["media"] == "agora" and payload["token"] is None


def test_ice_servers_with_time_limited_turn_credentials(settings: Any) -> None:
    settings.BANTER = {
        **settings.BANTER,
        "CALL_ICE_URLS": ("stun:turn.example.com:3478", "turn:turn.example.com:3478"),
        "CALL_TURN_SECRET": "s3cret",
        "CALL_RING_TIMEOUT": 60.0,
        "CALL_MAX_DURATION": 3600.0,
    }
    stun, turn = media.ice_servers(42, now=1_000_000.0)
    assert stun == {"urls": ["stun:turn.example.com:3478"]}
    assert turn["urls"] == ["turn:turn.example.com:3478"]
    assert turn["username"] == "1003660:42"
    expected = hmac.new(b"s3cret", b"1003660:42", hashlib.sha1).digest()
    assert base64.b64decode(turn["credential"]) == expected

    settings.BANTER = {**settings.BANTER, "CALL_TURN_SECRET": ""}
    assert media.ice_servers(42)[1] == {"urls": ["turn:turn.example.com:3478"]}
    settings.BANTER = {**settings.BANTER, "CALL_ICE_URLS": ()}
    assert media.ice_servers(42) == []


def test_call_config_api(settings: Any, auth_client: Any, user_factory: Any) -> None:
    client = auth_client(user_factory())
    assert client.get("/api/calls/config").json() == {
        "media": "webrtc",
        "appId": None,
        "iceServers": [],
        "billing": settings.BANTER["CALL_BILLING"],
    }
    settings.BANTER = {
        **settings.BANTER,
        "AGORA_APP_ID": APP_ID,
        "AGORA_APP_CERTIFICATE": CERTIFICATE,
        "CALL_ICE_URLS": ("stun:stun.example.net",),
    }
    body = client.get("/api/calls/config").json()
    assert body["media"] == "agora" and body["appId"] == APP_ID
    assert body["iceServers"] == [{"urls": ["stun:stun.example.net"]}]
    assert "AGORA_APP_CERTIFICATE" not in str(body) and CERTIFICATE not in str(body)


def test_call_config_needs_a_login(api_client: Any) -> None:
    assert api_client.get("/api/calls/config").status_code == 401
