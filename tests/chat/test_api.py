"""chat REST API: shapes, status codes, error bodies, query counts."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from banter.accounts.models import User
from banter.realtime.broadcast import capture_broadcasts
from chat import payloads
from chat.models import Membership, Message, Room
from tests.chat.conftest import SendMessage

AuthClient = Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


@pytest.fixture
def as_member(auth_client: AuthClient, member: User) -> APIClient:
    return auth_client(member)


@pytest.fixture
def as_outsider(auth_client: AuthClient, outsider: User) -> APIClient:
    return auth_client(outsider)


@pytest.mark.django_db
class TestAuthentication:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("get", "/api/rooms"), ("post", "/api/rooms/1/messages"), ("delete", "/api/messages/1")],
    )
    def test_anonymous_is_401(self, api_client: APIClient, method: str, path: str) -> None:
        assert_error(getattr(api_client, method)(path), 401, "unauthorized")

    def test_bad_token_is_401(self, api_client: APIClient) -> None:
        api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
        assert_error(api_client.get("/api/rooms"), 401, "unauthorized")


@pytest.mark.django_db
class TestRooms:
    def test_create_and_fetch(self, auth_client: AuthClient, owner: User, member: User) -> None:
        client = auth_client(owner)
        created = client.post(
            "/api/rooms",
            {"name": "Team", "isPublic": True, "memberIds": [member.pk]},
            format="json",
        )
        assert created.status_code == 201, created.json()
        room = created.json()
        assert room == {
            "id": room["id"],
            "name": "Team",
            "kind": "group",
            "isPublic": True,
            "createdAt": room["createdAt"],
            "lastSeq": 0,
            "unreadCount": 0,
            "role": "owner",
            "muted": False,
            "members": [
                {
                    "id": owner.pk,
                    "username": "owner",
                    "displayName": "Owner",
                    "avatarUrl": None,
                    "role": "owner",
                    "joinedAt": room["members"][0]["joinedAt"],
                },
                {
                    "id": member.pk,
                    "username": "member",
                    "displayName": "Member",
                    "avatarUrl": None,
                    "role": "member",
                    "joinedAt": room["members"][1]["joinedAt"],
                },
            ],
        }
        detail = auth_client(member).get(f"/api/rooms/{room['id']}")
        assert detail.status_code == 200
        assert detail.json()["role"] == "member"

    def test_list_has_unread_counts(
        self, room: Room, owner: User, as_member: APIClient, send: SendMessage
    ) -> None:
        send(owner, room)
        send(owner, room)
        response = as_member.get("/api/rooms")
        assert response.status_code == 200
        (listed,) = response.json()
        assert (listed["id"], listed["unreadCount"], listed["lastSeq"]) == (room.pk, 2, 2)
        assert "members" not in listed

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"name": ""},
            {"name": "   "},
            {"name": 5},
            {"name": "x" * 101},
            {"name": "ok", "isPublic": "yes"},
            {"name": "ok", "memberIds": "1"},
            {"name": "ok", "memberIds": ["1"]},
            {"name": "ok", "memberIds": [10**9]},
            {"name": "ok", "memberIds": [2**64]},
            ["name"],
        ],
    )
    def test_bad_input_is_400(self, as_member: APIClient, body: Any) -> None:
        assert_error(as_member.post("/api/rooms", body, format="json"), 400, "validation_error")
        assert not Room.objects.exists()

    def test_malformed_json_is_400(self, as_member: APIClient) -> None:
        response = as_member.post("/api/rooms", "{nope", content_type="application/json")
        assert_error(response, 400, "validation_error")

    def test_outsider_and_unknown_room(self, room: Room, as_outsider: APIClient) -> None:
        assert_error(as_outsider.get(f"/api/rooms/{room.pk}"), 403, "forbidden")
        assert_error(as_outsider.get("/api/rooms/999999"), 404, "not_found")
        assert_error(as_outsider.get(f"/api/rooms/{2**64}"), 404, "not_found")


@pytest.mark.django_db
class TestDirectRooms:
    def test_created_then_found(self, auth_client: AuthClient, owner: User, member: User) -> None:
        first = auth_client(owner).post("/api/rooms/direct", {"userId": member.pk}, format="json")
        again = auth_client(member).post("/api/rooms/direct", {"userId": owner.pk}, format="json")

        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        assert first.json()["kind"] == "direct"
        assert {m["id"] for m in first.json()["members"]} == {owner.pk, member.pk}

    @pytest.mark.parametrize("user_id", [None, "abc", 0, 10**9, True])
    def test_bad_user(self, as_member: APIClient, user_id: Any) -> None:
        response = as_member.post("/api/rooms/direct", {"userId": user_id}, format="json")
        assert_error(response, 400, "validation_error")


@pytest.mark.django_db
class TestMembers:
    def test_add_and_remove(
        self, room: Room, auth_client: AuthClient, owner: User, outsider: User
    ) -> None:
        client = auth_client(owner)
        added = client.post(
            f"/api/rooms/{room.pk}/members", {"userId": outsider.pk, "role": "admin"}, format="json"
        )
        assert added.status_code == 201
        assert (added.json()["id"], added.json()["role"]) == (outsider.pk, "admin")

        removed = client.delete(f"/api/rooms/{room.pk}/members/{outsider.pk}")
        assert removed.status_code == 204
        assert not Membership.objects.filter(room=room, user=outsider).exists()

    def test_rules_render_as_errors(
        self, room: Room, as_member: APIClient, auth_client: AuthClient, owner: User, admin: User
    ) -> None:
        body = {"userId": admin.pk}
        assert_error(
            as_member.post(f"/api/rooms/{room.pk}/members", body, format="json"), 403, "forbidden"
        )
        conflict = auth_client(owner).post(f"/api/rooms/{room.pk}/members", body, format="json")
        assert assert_error(conflict, 409, "conflict")["details"] == {"userId": admin.pk}
        assert_error(as_member.delete(f"/api/rooms/{room.pk}/members/{owner.pk}"), 403, "forbidden")
        assert_error(as_member.delete(f"/api/rooms/{room.pk}/members/999999"), 404, "not_found")
        bad_role = auth_client(owner).post(
            f"/api/rooms/{room.pk}/members", {"userId": 5, "role": "god"}, format="json"
        )
        assert_error(bad_role, 400, "validation_error")

    def test_leaving_through_delete_of_oneself(
        self, room: Room, as_member: APIClient, member: User
    ) -> None:
        assert as_member.delete(f"/api/rooms/{room.pk}/members/{member.pk}").status_code == 204
        assert_error(as_member.get(f"/api/rooms/{room.pk}"), 403, "forbidden")


@pytest.mark.django_db
class TestPostMessage:
    def test_created_then_idempotent(self, room: Room, as_member: APIClient) -> None:
        body = {"content": "hello", "clientId": "c-1"}
        with capture_broadcasts() as sent:
            first = as_member.post(f"/api/rooms/{room.pk}/messages", body, format="json")
            again = as_member.post(f"/api/rooms/{room.pk}/messages", body, format="json")

        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json() == again.json()
        message = Message.objects.select_related("sender").get()
        assert first.json() == payloads.message_payload(message)
        assert [b.event for b in sent] == [payloads.MESSAGE_RECEIVED]

    def test_all_fields(
        self, room: Room, as_member: APIClient, member: User, send: SendMessage
    ) -> None:
        original = send(member, room)
        response = as_member.post(
            f"/api/rooms/{room.pk}/messages",
            {"content": "see", "messageType": "image", "clientId": None, "replyTo": original.pk},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["messageType"] == "image"
        assert response.json()["replyTo"] == original.pk
        assert response.json()["seq"] == 2

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"content": ""},
            {"content": "   "},
            {"content": "x" * 4001},
            {"content": 123},
            {"content": None},
            {"content": {"text": "hi"}},
            {"content": "hi", "messageType": "system"},
            {"content": "hi", "messageType": 1},
            {"content": "hi", "clientId": 5},
            {"content": "hi", "clientId": "x" * 65},
            {"content": "hi", "replyTo": "abc"},
            {"content": "hi", "replyTo": 1.5},
            {"content": "hi", "replyTo": 999999},
            {"content": "hi", "replyTo": 2**64},
            "just a string",
        ],
    )
    def test_bad_input_is_400_and_stores_nothing(
        self, room: Room, as_member: APIClient, body: Any
    ) -> None:
        response = as_member.post(f"/api/rooms/{room.pk}/messages", body, format="json")
        assert_error(response, 400, "validation_error")
        assert not Message.objects.exists()

    def test_lone_surrogate_is_400(self, room: Room, as_member: APIClient) -> None:
        # "\ud800" cannot be encoded as UTF-8, so send the JSON escape the way a client would.
        response = as_member.post(
            f"/api/rooms/{room.pk}/messages",
            '{"content": "a\\ud800b"}',
            content_type="application/json",
        )
        assert_error(response, 400, "validation_error")
        assert not Message.objects.exists()

    def test_control_characters_are_stripped(self, room: Room, as_member: APIClient) -> None:
        response = as_member.post(
            f"/api/rooms/{room.pk}/messages", {"content": "a\u0000b\u0007c\nd"}, format="json"
        )
        assert response.status_code == 201
        assert response.json()["content"] == "abc\nd"

    def test_outsider_is_403_unknown_room_404(self, room: Room, as_outsider: APIClient) -> None:
        body = {"content": "hi"}
        assert_error(
            as_outsider.post(f"/api/rooms/{room.pk}/messages", body, format="json"),
            403,
            "forbidden",
        )
        assert_error(
            as_outsider.post("/api/rooms/999999/messages", body, format="json"), 404, "not_found"
        )
        assert not Message.objects.exists()


@pytest.mark.django_db
class TestHistory:
    @pytest.fixture
    def history(self, room: Room, owner: User, member: User, send: SendMessage) -> Room:
        for n in range(60):
            send(owner if n % 2 else member, room, f"message {n}")
        return room

    def test_pages_by_seq(self, history: Room, as_member: APIClient) -> None:
        newest = as_member.get(f"/api/rooms/{history.pk}/messages").json()
        assert [m["seq"] for m in newest["results"]] == list(range(11, 61))
        assert (newest["hasMore"], newest["nextBefore"], newest["nextAfter"]) == (True, 11, None)

        older = as_member.get(f"/api/rooms/{history.pk}/messages?before=11&limit=100").json()
        assert [m["seq"] for m in older["results"]] == list(range(1, 11))
        assert (older["hasMore"], older["nextBefore"]) == (False, None)

        newer = as_member.get(f"/api/rooms/{history.pk}/messages?after=55&limit=3").json()
        assert [m["seq"] for m in newer["results"]] == [56, 57, 58]
        assert (newer["hasMore"], newer["nextAfter"], newer["nextBefore"]) == (True, 58, None)

    def test_query_count_does_not_grow_with_the_page(
        self, history: Room, as_member: APIClient, django_assert_max_num_queries: Any
    ) -> None:
        # JWT user, membership (with room), messages (with senders), the page's reactions.
        with django_assert_max_num_queries(4):
            response = as_member.get(f"/api/rooms/{history.pk}/messages?limit=100")
        assert len(response.json()["results"]) == 60

    @pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "before=-1", "after=a"])
    def test_bad_paging_is_400(self, history: Room, as_member: APIClient, query: str) -> None:
        response = as_member.get(f"/api/rooms/{history.pk}/messages?{query}")
        assert_error(response, 400, "validation_error")

    def test_outsider_is_403(self, history: Room, as_outsider: APIClient) -> None:
        assert_error(as_outsider.get(f"/api/rooms/{history.pk}/messages"), 403, "forbidden")


@pytest.mark.django_db
class TestEditDeleteRead:
    def test_edit(self, room: Room, as_member: APIClient, member: User, send: SendMessage) -> None:
        message = send(member, room, "typo")
        response = as_member.patch(
            f"/api/messages/{message.pk}", {"content": "fixed"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["content"] == "fixed"
        assert response.json()["editedAt"] is not None

    def test_edit_errors(
        self, room: Room, as_member: APIClient, owner: User, member: User, send: SendMessage
    ) -> None:
        theirs = send(owner, room)
        mine = send(member, room)
        url = f"/api/messages/{theirs.pk}"
        assert_error(as_member.patch(url, {"content": "mine now"}, format="json"), 403, "forbidden")
        assert_error(
            as_member.patch(f"/api/messages/{mine.pk}", {"content": 7}, format="json"),
            400,
            "validation_error",
        )
        assert_error(
            as_member.patch("/api/messages/999999", {"content": "x"}, format="json"),
            404,
            "not_found",
        )

    def test_delete_is_soft(
        self,
        room: Room,
        as_member: APIClient,
        auth_client: AuthClient,
        member: User,
        owner: User,
        send: SendMessage,
    ) -> None:
        message = send(member, room, "oops")
        assert_error(auth_client(owner).delete("/api/messages/999999"), 404, "not_found")
        assert as_member.delete(f"/api/messages/{message.pk}").status_code == 204

        (listed,) = as_member.get(f"/api/rooms/{room.pk}/messages").json()["results"]
        assert listed["content"] == ""
        assert listed["deletedAt"] is not None
        assert_error(
            as_member.patch(f"/api/messages/{message.pk}", {"content": "x"}, format="json"),
            409,
            "conflict",
        )

    def test_mark_read(
        self, room: Room, as_member: APIClient, member: User, owner: User, send: SendMessage
    ) -> None:
        first, second = send(owner, room), send(owner, room)
        url = f"/api/rooms/{room.pk}/read"

        forward = as_member.post(url, {"messageId": second.pk}, format="json")
        back = as_member.post(url, {"messageId": first.pk}, format="json")

        assert forward.status_code == back.status_code == 200
        assert forward.json() == back.json()
        assert forward.json()["messageId"] == second.pk
        assert forward.json()["seq"] == 2
        assert forward.json()["userId"] == member.pk
        assert as_member.get("/api/rooms").json()[0]["unreadCount"] == 0
        assert_error(
            as_member.post(url, {"messageId": "x"}, format="json"), 400, "validation_error"
        )
        assert_error(
            as_member.post(url, {"messageId": 999999}, format="json"), 400, "validation_error"
        )


@pytest.mark.django_db
def test_nothing_is_broadcast_for_rejected_requests(room: Room, as_outsider: APIClient) -> None:
    with capture_broadcasts() as sent:
        as_outsider.post(f"/api/rooms/{room.pk}/messages", {"content": "hi"}, format="json")
    assert sent == []
