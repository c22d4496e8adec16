"""Uploads for operators: listed with size, type, owner and message; read-only (files come
only through POST /api/uploads, and the orphan sweep removes them). Staff may open any file
through the authorized download path (chat/attachments.py lets staff read all)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString

from media.models import Upload
from media.payloads import file_path


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "mime_type",
        "size",
        "owner",
        "message",
        "created_at",
        "attached_at",
    )
    list_filter = ("mime_type",)
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    raw_id_fields = ("owner", "message")
    date_hierarchy = "created_at"
    readonly_fields = (
        "owner",
        "name",
        "mime_type",
        "size",
        "width",
        "height",
        "message",
        "created_at",
        "attached_at",
        "download",
    )
    exclude = ("file", "thumbnail")

    @admin.display(description="file")
    def download(self, upload: Upload) -> SafeString:
        return format_html('<a href="{}">{}</a>', file_path(upload.pk), upload.name)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Upload | None = None) -> bool:
        return False
