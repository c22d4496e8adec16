from django.urls import path

from media import api

urlpatterns = [path("uploads", api.UploadApi.as_view(), name="media-uploads")]
