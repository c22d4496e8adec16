"""ASGI entry point: /socket.io/ goes to the realtime layer, all other HTTP to Django."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banter.settings")
django_asgi_app = get_asgi_application()

from banter.realtime.server import build_application  # noqa: E402  (needs Django set up)

application = build_application(django_asgi_app)
