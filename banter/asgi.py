"""ASGI entry point: /socket.io/ goes to the realtime layer, all other HTTP to Django.

The application is put together by the composition root, banter/wiring.py.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banter.settings")
django_asgi_app = get_asgi_application()

from banter.ops.checks import fail_on_errors  # noqa: E402  (needs Django set up)
from banter.wiring import build_application  # noqa: E402

# `manage.py serve` and a bare uvicorn skip Django's system checks: Banter's own must pass.
fail_on_errors()
application = build_application(django_asgi_app)
