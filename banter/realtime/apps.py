from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "banter.realtime"
    label = "realtime"
