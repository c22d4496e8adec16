"""ASGI entry point: HTTP goes to Django, /socket.io/ to the realtime layer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banter.settings")
django_asgi_app = get_asgi_application()

application = django_asgi_app
