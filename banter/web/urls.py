from django.contrib.staticfiles.urls import staticfiles_urlpatterns
from django.urls import path

from banter.web import views

urlpatterns = [
    path("", views.index, name="web-index"),
    path("sw.js", views.service_worker, name="web-service-worker"),
]

# Static files (this page's app.js, the admin's CSS, ...): Django serves them itself only
# with DEBUG=1, i.e. under `make run` (`manage.py serve` is daphne without runserver's
# static handler). In production `collectstatic` gathers them and the proxy serves /static/
# (docker-compose.yml: the migrate job fills the volume, deploy/nginx.conf serves it).
# staticfiles_urlpatterns() is empty when DEBUG is off.
urlpatterns += staticfiles_urlpatterns()
