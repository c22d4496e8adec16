"""REST transport for the call history."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.pagination import BanterCursorPagination
from calls.media import agora_enabled, ice_servers, media_for_new_call
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


class CallConfigSerializer(serializers.Serializer):
    media = serializers.ChoiceField(
        choices=CallLog.Media.choices, help_text="What new calls use for their media."
    )
    appId = serializers.CharField(allow_null=True, help_text="The Agora App ID, with agora.")
    iceServers = serializers.ListField(
        child=serializers.DictField(), help_text="RTCIceServer entries for WebRTC calls."
    )
    billing = serializers.ChoiceField(choices=["minute", "second"])


class CallConfigApi(APIView):
    """What a client needs before its first call: the media, and ICE servers for WebRTC
    (TURN credentials are per user and time-limited)."""

    @extend_schema(operation_id="calls_config", responses=CallConfigSerializer)
    def get(self, request: Request) -> Response:
        banter = settings.BANTER
        return Response(
            {
                "media": media_for_new_call(),
                "appId": banter["AGORA_APP_ID"] if agora_enabled() else None,
                "iceServers": ice_servers(cast(User, request.user).pk),
                "billing": banter["CALL_BILLING"],
            }
        )
