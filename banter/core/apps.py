from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "banter.core"
    label = "core"
