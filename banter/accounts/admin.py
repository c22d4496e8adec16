from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from banter.accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "display_name", "email", "is_active", "is_online", "last_seen")
    list_filter = ("is_active", "is_online", "is_staff")
    search_fields = ("username", "display_name", "email")
    fieldsets = (
        *(DjangoUserAdmin.fieldsets or ()),
        ("Banter", {"fields": ("display_name", "avatar_url", "is_online", "last_seen")}),
    )
