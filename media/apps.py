from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "media"
    verbose_name = "Attachments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        from media import signals  # noqa: F401  (connects the file cleanup)

        # Pillow's own decompression-bomb guard, at our limit (media/images.py refuses
        # larger images before decoding; this covers any other Image.open in the process).
        Image.MAX_IMAGE_PIXELS = int(settings.BANTER["MEDIA_MAX_IMAGE_PIXELS"])
