"""Push devices and the outbox for operators: who gets pushes, what is owed, what failed
and why; "send a test push" queues one to the chosen devices (delivered by the loop)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from push import testpush
from push.models import Device, PushOutbox


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "endpoint", "created_at", "last_success_at")
    list_filter = ("kind",)
    search_fields = ("user__username", "endpoint")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at", "last_success_at")
    actions = ("send_test_push",)

    @admin.action(description="Send a test push")
    def send_test_push(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        results = testpush.send_now(list(queryset))
        for device, outcome in results:
            level = messages.SUCCESS if outcome == "sent" else messages.WARNING
            self.message_user(request, f"{device}: {outcome}", level)


@admin.register(PushOutbox)
class PushOutboxAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "user",
        "device",
        "room_id",
        "message_id",
        "status",
        "attempts",
        "due_at",
        "sent_at",
        "last_error",
    )
    list_filter = ("status", "kind")
    search_fields = ("user__username", "last_error")
    list_select_related = ("user", "device")
    raw_id_fields = ("user", "device")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: PushOutbox | None = None) -> bool:
        return False
