from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "banter.web"
    label = "web"
    verbose_name = "Web chat page"
