from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "banter.accounts"
    label = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the bearer JWT scheme with drf-spectacular (by subclassing its extension).
        from banter.accounts import openapi  # noqa: F401
