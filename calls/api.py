"""REST transport for the call history."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.pagination import BanterCursorPagination
from calls.models import CallLog
from calls.payloads import call_payload
from calls.selectors import call_get_for_participant, call_list_for_user
from calls.serializers import CallListParamsSerializer, CallSerializer


class CallPagination(BanterCursorPagination):
    # A cursor keeps pages stable while new calls are logged during paging.
    ordering = ("-started_at", "-id")


@extend_schema_view(
    get=extend_schema(operation_id="calls_list", parameters=[CallListParamsSerializer])
)
class CallListApi(generics.ListAPIView):
    serializer_class = CallSerializer  # documents the payload; events build it
    pagination_class = CallPagination

    def get_queryset(self) -> Any:
        return CallLog.objects.none()  # schema introspection only

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = CallListParamsSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        calls = call_list_for_user(
            cast(User, request.user),
            status=params.validated_data.get("status"),
            call_type=params.validated_data.get("type"),
        )
        page = self.paginate_queryset(calls) or []
        return self.get_paginated_response([call_payload(call) for call in page])


class CallDetailApi(APIView):
    @extend_schema(operation_id="calls_detail", responses=CallSerializer)
    def get(self, request: Request, call_id: int) -> Response:
        return Response(call_payload(call_get_for_participant(cast(User, request.user), call_id)))
