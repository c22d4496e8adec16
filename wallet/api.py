"""Wallet REST: the caller's balance and price, and their ledger (wallet/services.py).

Coins are credited only by staff (the admin, `manage.py wallet_credit`): payments are out
of scope, so no endpoint here adds coins.
"""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts.models import User
from banter.core.pagination import BanterCursorPagination
from chat.serializers import ErrorOutputSerializer
from wallet import services
from wallet.models import LedgerEntry
from wallet.payloads import ledger_entry_payload, wallet_payload


class WalletSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Coins.")
    pricePerMinute = serializers.IntegerField(
        help_text="Coins a caller pays per minute of a call to this user (0: free)."
    )


class WalletUpdateSerializer(serializers.Serializer):
    pricePerMinute = serializers.IntegerField()


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=LedgerEntry.Kind.choices)
    amount = serializers.IntegerField(help_text="Coins; negative is a debit.")
    balanceAfter = serializers.IntegerField(allow_null=True)
    callId = serializers.IntegerField(allow_null=True)
    memo = serializers.CharField()
    createdAt = serializers.DateTimeField()


class WalletApi(APIView):
    @extend_schema(operation_id="wallet_get", responses={200: WalletSerializer})
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)
        return Response(wallet_payload(services.wallet_of(user.pk)))

    @extend_schema(
        operation_id="wallet_update",
        request=WalletUpdateSerializer,
        responses={200: WalletSerializer, 400: ErrorOutputSerializer},
    )
    def patch(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        wallet = services.wallet_set_price(
            user=cast(User, request.user), price_per_minute=body.get("pricePerMinute")
        )
        return Response(wallet_payload(wallet))


class LedgerPagination(BanterCursorPagination):
    ordering = ("-id",)


class LedgerApi(generics.ListAPIView):
    serializer_class = LedgerEntrySerializer  # documents the payload
    pagination_class = LedgerPagination

    def get_queryset(self) -> Any:
        return services.ledger_of(cast(User, self.request.user))

    @extend_schema(operation_id="wallet_ledger")
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.get_queryset()) or []
        return self.get_paginated_response([ledger_entry_payload(entry) for entry in page])
