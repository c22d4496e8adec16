"""REST endpoints of the chat domain: parse input -> call a service or selector -> render.

Errors are BanterErrors rendered by banter.core.api.exception_handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.throttling import charge_event_rate
from chat import payloads, reactions, search, selectors, services
from chat.message_batch import SendRequest
from chat.message_writer import send_from_thread
from chat.serializers import (
    DirectRoomInputSerializer,
    ErrorOutputSerializer,
    HistoryPageOutputSerializer,
    HistoryQuerySerializer,
    MemberAddInputSerializer,
    MemberOutputSerializer,
    MessageEditInputSerializer,
    MessageOutputSerializer,
    MessageReactionOutputSerializer,
    MessageSendInputSerializer,
    ReactionInputSerializer,
    ReadMarkInputSerializer,
    ReadPositionOutputSerializer,
    RoomCreateInputSerializer,
    RoomOutputSerializer,
    SearchPageOutputSerializer,
    SearchQuerySerializer,
)


def _errors(*statuses: int) -> dict[int, Any]:
    """Schema entries for the error responses an endpoint can give (401 always)."""
    return dict.fromkeys((401, *statuses), ErrorOutputSerializer)


def _validated(serializer_class: type[Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _user(request: Request) -> User:
    # IsAuthenticated (the default permission) has run, so this is a real User.
    return cast(User, request.user)


def _room_response(request: Request, room_id: int, status_code: int) -> Response:
    view = selectors.room_get_for_member(_user(request), room_id)
    return Response(RoomOutputSerializer(view).data, status=status_code)


class RoomListApi(APIView):
    @extend_schema(
        operation_id="rooms_list", responses={200: RoomOutputSerializer(many=True), **_errors()}
    )
    def get(self, request: Request) -> Response:
        rooms = selectors.room_list_for_user(_user(request))
        return Response(RoomOutputSerializer(rooms, many=True).data)

    @extend_schema(
        operation_id="rooms_create",
        request=RoomCreateInputSerializer,
        responses={201: RoomOutputSerializer, **_errors(400)},
    )
    def post(self, request: Request) -> Response:
        data = _validated(RoomCreateInputSerializer, request.data)
        room = services.room_create(creator=_user(request), **data)
        return _room_response(request, room.pk, status.HTTP_201_CREATED)


class RoomDetailApi(APIView):
    @extend_schema(responses={200: RoomOutputSerializer, **_errors(403, 404)})
    def get(self, request: Request, room_id: int) -> Response:
        return _room_response(request, room_id, status.HTTP_200_OK)


class DirectRoomApi(APIView):
    @extend_schema(
        request=DirectRoomInputSerializer,
        responses={
            200: OpenApiResponse(RoomOutputSerializer, description="The existing direct room"),
            201: OpenApiResponse(RoomOutputSerializer, description="A new direct room"),
            **_errors(400),
        },
    )
    def post(self, request: Request) -> Response:
        data = _validated(DirectRoomInputSerializer, request.data)
        room, created = services.direct_room_get_or_create(user=_user(request), **data)
        return _room_response(request, room.pk, 201 if created else 200)


class RoomMembersApi(APIView):
    @extend_schema(
        request=MemberAddInputSerializer,
        responses={201: MemberOutputSerializer, **_errors(400, 403, 404, 409)},
    )
    def post(self, request: Request, room_id: int) -> Response:
        data = _validated(MemberAddInputSerializer, request.data)
        membership = services.member_add(actor=_user(request), room_id=room_id, **data)
        return Response(MemberOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class RoomMemberDetailApi(APIView):
    @extend_schema(responses={204: None, **_errors(403, 404)})
    def delete(self, request: Request, room_id: int, user_id: int) -> Response:
        services.member_remove(actor=_user(request), room_id=room_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomMessagesApi(APIView):
    @extend_schema(
        operation_id="rooms_messages_list",
        parameters=[HistoryQuerySerializer],
        responses={200: HistoryPageOutputSerializer, **_errors(400, 403, 404)},
    )
    def get(self, request: Request, room_id: int) -> Response:
        query = _validated(HistoryQuerySerializer, request.query_params)
        page = selectors.message_history(_user(request), room_id, **query)
        return Response(HistoryPageOutputSerializer(page).data)

    @extend_schema(
        operation_id="rooms_messages_create",
        request=MessageSendInputSerializer,
        responses={
            201: OpenApiResponse(MessageOutputSerializer, description="Stored"),
            200: OpenApiResponse(
                MessageOutputSerializer, description="A repeated clientId: the stored message"
            ),
            **_errors(400, 403, 404, 409, 429),
        },
    )
    def post(self, request: Request, room_id: int) -> Response:
        user = _user(request)
        charge_event_rate("message", user.pk)  # the send-message socket budget
        data = _validated(MessageSendInputSerializer, request.data)
        message, created = send_from_thread(SendRequest(sender=user, room_id=room_id, **data))
        return Response(MessageOutputSerializer(message).data, status=201 if created else 200)


class MessageDetailApi(APIView):
    @extend_schema(
        request=MessageEditInputSerializer,
        responses={200: MessageOutputSerializer, **_errors(400, 403, 404, 409)},
    )
    def patch(self, request: Request, message_id: int) -> Response:
        user = _user(request)
        data = _validated(MessageEditInputSerializer, request.data)
        message = services.message_edit(user=user, message_id=message_id, **data)
        seen = selectors.reactions_of([message], user.pk).get(message.pk, [])
        return Response(MessageOutputSerializer(message, context={"reactions": seen}).data)

    @extend_schema(responses={204: None, **_errors(403, 404)})
    def delete(self, request: Request, message_id: int) -> Response:
        services.message_delete(user=_user(request), message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


_REACTION_SCHEMA = extend_schema(
    request=ReactionInputSerializer,
    responses={200: MessageReactionOutputSerializer, **_errors(400, 403, 404, 409, 429)},
)


class MessageReactionsApi(APIView):
    """`POST {emoji}` adds the caller's reaction, `DELETE {emoji}` (a JSON body, or
    `?emoji=`) takes it off; both answer the state after the call, as `react` and
    `unreact` do over the socket, and spend the same budget."""

    @_REACTION_SCHEMA
    def post(self, request: Request, message_id: int) -> Response:
        return _reaction(request, message_id, reactions.reaction_add, request.data)

    @_REACTION_SCHEMA
    def delete(self, request: Request, message_id: int) -> Response:
        body = request.data if request.data else request.query_params
        return _reaction(request, message_id, reactions.reaction_remove, body)


def _reaction(
    request: Request,
    message_id: int,
    change: Callable[..., payloads.MessageReactionPayload],
    body: Any,
) -> Response:
    user = _user(request)
    charge_event_rate("message", user.pk)
    data = _validated(ReactionInputSerializer, body)
    result = change(user=user, message_id=message_id, **data)
    return Response(MessageReactionOutputSerializer(result).data)


class RoomReadApi(APIView):
    @extend_schema(
        request=ReadMarkInputSerializer,
        responses={200: ReadPositionOutputSerializer, **_errors(400, 403, 404)},
    )
    def post(self, request: Request, room_id: int) -> Response:
        data = _validated(ReadMarkInputSerializer, request.data)
        membership = services.read_position_mark(user=_user(request), room_id=room_id, **data)
        return Response(ReadPositionOutputSerializer(membership).data)


class MessageSearchApi(APIView):
    """Full-text search over the messages the caller may read (chat/search.py)."""

    @extend_schema(
        operation_id="messages_search",
        parameters=[SearchQuerySerializer],
        responses={200: SearchPageOutputSerializer, **_errors(400, 403, 404, 429)},
    )
    def get(self, request: Request) -> Response:
        user = _user(request)
        charge_event_rate("search", user.pk)
        query = _validated(SearchQuerySerializer, request.query_params)
        hits = search.search_messages(user, **query)
        return Response(SearchPageOutputSerializer(search.hit_payloads(hits, user.pk)).data)
