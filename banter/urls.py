from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("banter.accounts.urls")),
    path("api/", include("chat.urls")),
    path("api/", include("media.urls")),
    path("api/", include("push.urls")),
    path("api/", include("calls.urls")),
    path("api/", include("wallet.urls")),
    path("api/", include("banter.notifications.urls")),
    path("", include("banter.web.urls")),
]
