from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from banter.accounts.models import User
from banter.accounts.services import user_deactivate, user_password_changed


class PasswordChangeForm(AdminPasswordChangeForm):
    """The admin's "change password" form; a new password also ends every session (whoever
    knew the old one may hold tokens)."""

    def save(self, commit: bool = True) -> Any:
        user = super().save(commit=commit)
        if commit:
            user_password_changed(user=user)
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "is_active", "is_online", "last_seen")
    list_filter = ("is_active", "is_online", "is_staff")
    search_fields = ("username", "display_name", "email")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Banter", {"fields": ("display_name", "avatar_url", "is_online", "last_seen")}),
    )
    actions = ("deactivate_users",)
    change_password_form = PasswordChangeForm
    # Avatars are http(s) only; this also opts into Django 6's default for scheme-less input.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.action(description="Deactivate selected users and close their live sessions")
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        count = 0
        for user in queryset.filter(is_active=True):
            user_deactivate(user=user)
            count += 1
        self.message_user(request, f"Deactivated {count} user(s).", messages.SUCCESS)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Unticking "active" in the form must end sessions just like the action does.
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_deactivate(user=obj)
