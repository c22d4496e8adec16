from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "push"
    verbose_name = "Push notifications"
    default_auto_field = "django.db.models.BigAutoField"
