from django.urls import path

from calls import api

urlpatterns = [
    path("calls", api.CallListApi.as_view(), name="calls-list"),
    path("calls/config", api.CallConfigApi.as_view(), name="calls-config"),
    path("calls/<int:call_id>", api.CallDetailApi.as_view(), name="calls-detail"),
]
