"""REST call history: participants only, filters validated, the documented payload shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from calls.models import CallLog
from calls.payloads import call_payload
from calls.serializers import CallSerializer
from tests.calls.conftest import CallFactory

pytestmark = pytest.mark.django_db


class TestList:
    def test_my_calls_as_caller_or_receiver_newest_first(
        self, auth_client, user_factory, call_factory: CallFactory
    ) -> None:
        me, bob, carol = user_factory(), user_factory(), user_factory()
        outgoing = call_factory(me, bob, minutes_ago=30)
        incoming = call_factory(carol, me, minutes_ago=10)
        call_factory(bob, carol)  # not mine
        body = auth_client(me).get("/api/calls").json()
        assert [c["id"] for c in body["results"]] == [incoming.pk, outgoing.pk]
        assert body["next"] is None

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"status": "missed"}, ["missed-audio"]),
            ({"type": "video"}, ["completed-video"]),
            ({"status": "completed", "type": "audio"}, ["completed-audio"]),
            ({"status": "busy"}, []),
        ],
    )
    def test_filters(
        self, auth_client, user_factory, call_factory: CallFactory, params, expected
    ) -> None:
        me, bob = user_factory(), user_factory()
        calls = {
            "missed-audio": call_factory(bob, me, status="missed", call_type="audio"),
            "completed-video": call_factory(me, bob, status="completed", call_type="video"),
            "completed-audio": call_factory(me, bob, status="completed", call_type="audio"),
        }
        results = auth_client(me).get("/api/calls", params).json()["results"]
        assert sorted(c["id"] for c in results) == sorted(calls[name].pk for name in expected)

    @pytest.mark.parametrize(
        ("params", "field"),
        [({"status": "exploded"}, "status"), ({"type": "hologram"}, "type")],
    )
    def test_bad_filter(self, auth_client, user_factory, params, field) -> None:
        response = auth_client(user_factory()).get("/api/calls", params)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "validation_error"
        assert field in body["details"]["fields"]

    def test_pages(self, auth_client, user_factory, call_factory: CallFactory) -> None:
        me, bob = user_factory(), user_factory()
        created = [call_factory(me, bob, minutes_ago=10 - i) for i in range(3)]
        client = auth_client(me)
        first = client.get("/api/calls", {"limit": 2}).json()
        second = client.get(first["next"]).json()
        ids = [c["id"] for page in (first, second) for c in page["results"]]
        assert ids == [c.pk for c in created[::-1]]

    def test_query_count_does_not_grow_with_rows(
        self, auth_client, user_factory, call_factory: CallFactory, django_assert_max_num_queries
    ) -> None:
        me = user_factory()
        for _ in range(5):
            call_factory(me, user_factory())
        client = auth_client(me)
        # authentication user lookup + one page query (callers/receivers joined)
        with django_assert_max_num_queries(2):
            assert len(client.get("/api/calls").json()["results"]) == 5

    def test_requires_authentication(self, api_client) -> None:
        assert api_client.get("/api/calls").status_code == 401


class TestDetail:
    def test_participants_see_the_call(
        self, auth_client, user_factory, call_factory: CallFactory
    ) -> None:
        caller, receiver = user_factory(), user_factory(avatar_url="https://x.test/r.png")
        now = timezone.now()
        call = call_factory(
            caller,
            receiver,
            call_type="video",
            status="completed",
            answered_at=now,
            ended_at=now + timedelta(seconds=42),
            duration=42,
        )
        for user in (caller, receiver):
            response = auth_client(user).get(f"/api/calls/{call.pk}")
            assert response.status_code == 200
            body = response.json()
            assert body == call_payload(CallLog.objects.get(pk=call.pk))
        assert body["callerId"] == caller.pk
        assert body["receiverId"] == receiver.pk
        assert body["caller"] == {
            "id": caller.pk,
            "username": caller.username,
            "displayName": caller.display_name,
            "avatarUrl": None,
        }
        assert body["receiver"]["avatarUrl"] == "https://x.test/r.png"
        assert (body["callType"], body["status"], body["duration"]) == ("video", "completed", 42)
        assert body["startedAt"].endswith("Z")
        assert body["ringExpiresAt"] is None

    def test_others_get_not_found(
        self, auth_client, user_factory, call_factory: CallFactory
    ) -> None:
        call = call_factory(user_factory(), user_factory())
        response = auth_client(user_factory()).get(f"/api/calls/{call.pk}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"

    @pytest.mark.parametrize("call_id", [999_999, 2**70])
    def test_unknown_call(self, auth_client, user_factory, call_id) -> None:
        response = auth_client(user_factory()).get(f"/api/calls/{call_id}")
        assert response.status_code == 404


class TestModel:
    def test_payload_matches_documented_shape(
        self, user_factory, call_factory: CallFactory
    ) -> None:
        call = call_factory(user_factory(), user_factory())
        assert set(call_payload(call)) == set(CallSerializer().fields)

    def test_cannot_call_yourself(self, user_factory) -> None:
        user = user_factory()
        with pytest.raises(IntegrityError):
            CallLog.objects.create(caller=user, receiver=user, call_type="audio")
