from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running the process: `manage.py serve`, health and metrics endpoints, JSON logs."""

    name = "banter.ops"
    label = "ops"

    def ready(self) -> None:
        from banter.ops import checks  # noqa: F401  (registers the "banter" system checks)
