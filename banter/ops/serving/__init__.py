"""How `manage.py serve` runs the ASGI application: uvicorn (default) or daphne, each with the
same SIGTERM drain (shutdown.py)."""
