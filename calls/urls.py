from django.urls import path

from calls import api

urlpatterns = [
    path("calls", api.CallListApi.as_view(), name="calls-list"),
    path("calls/<int:call_id>", api.CallDetailApi.as_view(), name="calls-detail"),
]
