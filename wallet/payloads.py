"""Payload builders for the wallet: one shape for REST and socket events."""

from __future__ import annotations

from typing import TypedDict

from banter.core.timestamps import iso_utc
from wallet.models import LedgerEntry, Wallet
from wallet.services import price_per_minute


class WalletPayload(TypedDict):
    balance: int
    pricePerMinute: int


class LedgerEntryPayload(TypedDict):
    id: int
    kind: str
    amount: int
    balanceAfter: int | None
    callId: int | None
    memo: str
    createdAt: str


def wallet_payload(wallet: Wallet) -> WalletPayload:
    return {"balance": wallet.balance, "pricePerMinute": price_per_minute(wallet)}


def ledger_entry_payload(entry: LedgerEntry) -> LedgerEntryPayload:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "amount": entry.amount,
        "balanceAfter": entry.balance_after,
        "callId": entry.call_id,
        "memo": entry.memo,
        "createdAt": iso_utc(entry.created_at) or "",
    }
