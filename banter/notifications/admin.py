from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from banter.notifications.models import Notification
from banter.notifications.services import notification_announce, notification_count_announce


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "kind", "created_at", "read_at")
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter), "created_at")
    search_fields = ("user__username", "user__display_name")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("created_at",)

    # Hooks, not a post_save receiver: notification_create announces its own notifications,
    # and a receiver would push every one of them twice.
    def save_model(self, request: HttpRequest, obj: Notification, form: Any, change: bool) -> None:
        previous_user_id = (
            Notification.objects.filter(pk=obj.pk).values_list("user_id", flat=True).first()
            if change
            else None
        )
        super().save_model(request, obj, form, change)
        if not change:
            notification_announce(obj)  # pushed to the user's sockets like any other
            return
        if {"read_at", "user"} & set(form.changed_data):
            notification_count_announce(obj.user_id)
            if previous_user_id is not None and previous_user_id != obj.user_id:
                notification_count_announce(previous_user_id)

    def delete_model(self, request: HttpRequest, obj: Notification) -> None:
        super().delete_model(request, obj)
        notification_count_announce(obj.user_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        user_ids = set(queryset.values_list("user_id", flat=True))
        super().delete_queryset(request, queryset)
        for user_id in sorted(user_ids):
            notification_count_announce(user_id)
