"""Coins for operators: wallets with a staff top-up, and the ledger, read-only.

A balance is never edited: the "top up" field writes a ledger transaction (wallet/services)
and the balance follows from it, so the ledger and the balances stay consistent.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from banter.core.errors import BanterError
from wallet.models import LedgerEntry, Wallet
from wallet.services import wallet_credit


class WalletForm(forms.ModelForm):
    top_up = forms.IntegerField(
        min_value=1, required=False, help_text="Coins to add now, as a ledger top-up."
    )
    top_up_memo = forms.CharField(max_length=200, required=False, help_text="Why (kept).")

    class Meta:
        model = Wallet
        fields = ("user", "price_per_minute")


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    form = WalletForm
    list_display = ("user", "balance", "price_per_minute", "updated_at", "ledger")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    readonly_fields = ("balance", "updated_at", "ledger")

    def get_readonly_fields(self, request: HttpRequest, obj: Wallet | None = None) -> Any:
        # The owner is chosen once, when a wallet is created here.
        return (*self.readonly_fields, "user") if obj is not None else self.readonly_fields

    @admin.display(description="ledger")
    def ledger(self, wallet: Wallet) -> str:
        url = reverse("admin:wallet_ledgerentry_changelist")
        return format_html('<a href="{}?user__id__exact={}">entries</a>', url, wallet.user_id)

    def save_model(self, request: HttpRequest, obj: Wallet, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["price_per_minute", "updated_at"])
        else:
            obj.save()
        amount = form.cleaned_data.get("top_up")
        if not amount:
            return
        try:
            wallet_credit(
                user_id=obj.user_id,
                amount=amount,
                created_by=request.user,  # type: ignore[arg-type]
                memo=form.cleaned_data.get("top_up_memo") or "admin top-up",
            )
        except BanterError as error:
            self.message_user(request, error.message, messages.ERROR)
            return
        obj.refresh_from_db(fields=["balance"])
        self.message_user(request, f"Added {amount} coins: the balance is {obj.balance}.")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "user", "kind", "amount", "balance_after", "key", "call")
    list_filter = ("kind",)
    search_fields = ("user__username", "key", "memo")
    list_select_related = ("user",)
    date_hierarchy = "created_at"

    # Append-only: entries are written by the services, never by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
