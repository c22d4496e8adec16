from django.urls import path

from banter.notifications import api

urlpatterns = [
    path("notifications", api.NotificationListApi.as_view(), name="notifications-list"),
    path("notifications/read", api.NotificationMarkReadApi.as_view(), name="notifications-read"),
]
