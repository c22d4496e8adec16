from django.urls import path

from push import api

urlpatterns = [
    path("devices", api.DeviceListApi.as_view(), name="push-devices"),
    path("devices/<int:device_id>", api.DeviceDetailApi.as_view(), name="push-device"),
    path("push/vapid-public-key", api.VapidPublicKeyApi.as_view(), name="push-vapid-key"),
    path(
        "rooms/<int:room_id>/notifications",
        api.RoomNotificationsApi.as_view(),
        name="push-room-notifications",
    ),
]
