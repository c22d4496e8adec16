"""Operator views. Messages are created only by chat.services (which allocates seq), so the
admin can inspect and moderate them but not add them, and counters stay read-only.

What the admin changes reaches the live layer the same way the services' changes do:
- a new membership (its page or a room's inline) is announced with services.announce_join
  (the user's sockets subscribe to the room);
- deleting a membership, a message or a user is announced by the post_delete receivers of
  chat/signals.py, whatever deletes it;
- a message's content is edited, and messages are soft-deleted, through
  services.message_moderate: broadcast like the author's edit or delete, and rewritten in
  the recorded events, so a reconnecting client's replay shows what REST shows.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest

from chat import services
from chat.models import Membership, Message, Reaction, Room


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

    def save_formset(
        self, request: HttpRequest, form: Any, formset: BaseInlineFormSet, change: bool
    ) -> None:
        super().save_formset(request, form, formset, change)
        # Deleted inline rows are announced by the post_delete receiver; new ones here.
        for membership in formset.new_objects:
            if isinstance(membership, Membership):
                services.announce_join(membership)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("id", "room", "user", "role", "joined_at", "last_read_seq", "read_at")
    list_filter = ("role", "room__kind")
    search_fields = ("user__username", "room__name")
    raw_id_fields = ("room", "user", "last_read_message")
    readonly_fields = ("joined_at", "last_read_seq", "read_at")
    list_select_related = ("room", "user")

    def get_readonly_fields(
        self, request: HttpRequest, obj: Membership | None = None
    ) -> tuple[str, ...]:
        # Moving an existing membership to another user or room would bypass both the leave
        # and the join announcements: delete it and add a new one instead.
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "room", "user") if obj is not None else fields

    def save_model(self, request: HttpRequest, obj: Membership, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change:
            services.announce_join(obj)


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
    # Only the content is edited here (through message_moderate); a soft delete is the
    # action below, so deleted_at is never set or cleared by hand.
    readonly_fields = (
        "room",
        "seq",
        "sender",
        "client_id",
        "message_type",
        "reply_to",
        "created_at",
        "edited_at",
        "deleted_at",
    )
    list_select_related = ("room", "sender")
    date_hierarchy = "created_at"
    actions = ("soft_delete_messages",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Message, form: Any, change: bool) -> None:
        if "content" in form.changed_data:
            services.message_moderate(message_id=obj.pk, content=obj.content)
            obj.refresh_from_db()

    @admin.action(description="Delete selected messages (soft: the room is told)")
    def soft_delete_messages(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        count = 0
        for message_id in queryset.filter(deleted_at__isnull=True).values_list("pk", flat=True):
            services.message_moderate(message_id=message_id, delete=True)
            count += 1
        self.message_user(request, f"Deleted {count} message(s).", messages.SUCCESS)


@admin.register(Reaction)
class ReactionAdmin(admin.ModelAdmin):
    """Read-only: a reaction changes only through chat.reactions, which announces it and
    records it for recovery; an admin edit or delete would do neither."""

    list_display = ("id", "emoji", "user", "message", "created_at")
    search_fields = ("user__username", "emoji")
    raw_id_fields = ("message", "user")
    list_select_related = ("user", "message")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reaction | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Reaction | None = None) -> bool:
        return False
