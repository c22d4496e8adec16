from django.contrib import admin

from calls.models import CallLog


@admin.register(CallLog)
class CallLogAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "caller",
        "receiver",
        "call_type",
        "status",
        "started_at",
        "answered_at",
        "ended_at",
        "duration",
        "media",
        "cost",
        "end_reason",
    )
    list_filter = ("status", "call_type", "media", "end_reason")
    search_fields = ("caller__username", "receiver__username")
    date_hierarchy = "started_at"
    list_select_related = ("caller", "receiver")
    raw_id_fields = ("caller", "receiver")
    # What was charged is the ledger's to say: changing it here would not move any coins.
    readonly_fields = ("started_at", "price_per_minute", "cost", "billed_seconds", "channel")
