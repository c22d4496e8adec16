"""Push REST: devices, the VAPID public key, a room's mute (push/services.py)."""

from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.errors import not_found
from banter.core.timestamps import iso_utc
from chat.serializers import ErrorOutputSerializer
from push import services, webpush
from push.models import Device


class DeviceInputSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="webpush, fcm or apns")
    subscription = serializers.JSONField(
        required=False,
        help_text="webpush: the browser's PushSubscription.toJSON(): {endpoint, keys}",
    )
    token = serializers.CharField(required=False, help_text="fcm / apns: the device token")
    topic = serializers.CharField(required=False, help_text="apns: the app's bundle id")
    sandbox = serializers.BooleanField(required=False, help_text="apns: a development token")


class DeviceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    createdAt = serializers.DateTimeField()
    endpoint = serializers.CharField()
    lastSuccessAt = serializers.DateTimeField(allow_null=True)


class RoomNotificationsSerializer(serializers.Serializer):
    muted = serializers.BooleanField()


def device_payload(device: Device) -> dict[str, Any]:
    return {
        "id": device.pk,
        "kind": device.kind,
        "createdAt": iso_utc(device.created_at),
        "endpoint": device.endpoint,
        "lastSuccessAt": iso_utc(device.last_success_at),
    }


def _errors(*statuses: int) -> dict[int, Any]:
    return dict.fromkeys((401, *statuses), ErrorOutputSerializer)


class DeviceListApi(APIView):
    @extend_schema(
        operation_id="devices_list", responses={200: DeviceOutputSerializer(many=True), **_errors()}
    )
    def get(self, request: Request) -> Response:
        devices = services.device_list(cast(User, request.user))
        return Response([device_payload(device) for device in devices])

    @extend_schema(
        operation_id="devices_register",
        request=DeviceInputSerializer,
        responses={
            201: OpenApiResponse(DeviceOutputSerializer, description="A new device"),
            200: OpenApiResponse(DeviceOutputSerializer, description="Known: now the caller's"),
            **_errors(400),
        },
    )
    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        device, created = services.device_register(
            user=cast(User, request.user), kind=body.get("kind"), fields=body
        )
        return Response(device_payload(device), status=201 if created else 200)


class DeviceDetailApi(APIView):
    @extend_schema(operation_id="devices_delete", responses={204: None, **_errors(404)})
    def delete(self, request: Request, device_id: int) -> Response:
        services.device_remove(user=cast(User, request.user), device_id=device_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VapidPublicKeyApi(APIView):
    permission_classes = [AllowAny]  # public by nature: browsers subscribe with it

    @extend_schema(
        operation_id="push_vapid_public_key",
        responses={200: OpenApiResponse(description="{publicKey}"), 404: ErrorOutputSerializer},
    )
    def get(self, request: Request) -> Response:
        if not webpush.configured():
            raise not_found("Web Push configuration")
        return Response({"publicKey": settings.BANTER["VAPID_PUBLIC_KEY"]})


class RoomNotificationsApi(APIView):
    @extend_schema(
        operation_id="rooms_notifications_update",
        request=RoomNotificationsSerializer,
        responses={200: OpenApiResponse(description="{roomId, muted}"), **_errors(400, 403, 404)},
    )
    def patch(self, request: Request, room_id: int) -> Response:
        serializer = RoomNotificationsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.room_mute(
            user=cast(User, request.user), room_id=room_id, muted=serializer.validated_data["muted"]
        )
        return Response({"roomId": membership.room_id, "muted": membership.muted})
