"""REST transport for notifications."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.pagination import BanterCursorPagination
from banter.notifications.models import Notification
from banter.notifications.payloads import notification_payload
from banter.notifications.selectors import notification_list
from banter.notifications.serializers import (
    MarkReadInputSerializer,
    NotificationListParamsSerializer,
    NotificationSerializer,
    UnreadCountSerializer,
)
from banter.notifications.services import notifications_mark_read


class NotificationPagination(BanterCursorPagination):
    # A cursor, not page numbers: new notifications arrive while a client pages, and offsets
    # would then repeat or skip items.
    ordering = ("-created_at", "-id")


@extend_schema_view(
    get=extend_schema(
        operation_id="notifications_list", parameters=[NotificationListParamsSerializer]
    )
)
class NotificationListApi(generics.ListAPIView):
    serializer_class = NotificationSerializer  # documents the payload; events build it
    pagination_class = NotificationPagination

    def get_queryset(self) -> Any:
        return Notification.objects.none()  # schema introspection only

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = NotificationListParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        notifications = notification_list(
            cast(User, request.user), unread_only=params.validated_data["unread"]
        )
        page = self.paginate_queryset(notifications) or []
        return self.get_paginated_response([notification_payload(n) for n in page])


class NotificationMarkReadApi(APIView):
    @extend_schema(
        operation_id="notifications_read",
        request=MarkReadInputSerializer,
        responses=UnreadCountSerializer,
    )
    def post(self, request: Request) -> Response:
        serializer = MarkReadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        unread = notifications_mark_read(
            user=cast(User, request.user),
            ids=None if data["all"] else data["ids"],
            all=data["all"],
        )
        return Response({"unread": unread})
