"""Operator views. Messages are created only by chat.services (which allocates seq), so the
admin can inspect and moderate them but not add them, and counters stay read-only."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chat.models import Membership, Message, Room


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user", "last_read_message")
    readonly_fields = ("joined_at", "last_read_seq", "read_at")


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "kind", "is_public", "created_by", "created_at", "last_seq")
    list_filter = ("kind", "is_public")
    search_fields = ("name", "direct_key", "created_by__username")
    raw_id_fields = ("created_by",)
    readonly_fields = ("last_seq", "direct_key", "created_at")
    list_select_related = ("created_by",)
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("id", "room", "user", "role", "joined_at", "last_read_seq", "read_at")
    list_filter = ("role", "room__kind")
    search_fields = ("user__username", "room__name")
    raw_id_fields = ("room", "user", "last_read_message")
    readonly_fields = ("joined_at", "last_read_seq", "read_at")
    list_select_related = ("room", "user")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "room",
        "seq",
        "sender",
        "message_type",
        "created_at",
        "edited_at",
        "deleted_at",
    )
    list_filter = ("message_type", ("deleted_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("content", "client_id", "sender__username", "room__name")
    raw_id_fields = ("room", "sender", "reply_to")
    readonly_fields = ("room", "seq", "sender", "client_id", "created_at", "edited_at")
    list_select_related = ("room", "sender")
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
