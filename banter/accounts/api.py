"""REST transport for accounts: parse and validate, call a service or selector, render."""

from __future__ import annotations

from typing import Any, cast

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from banter.accounts import selectors, services
from banter.accounts.authentication import OptionalJWTAuthentication
from banter.accounts.models import User
from banter.accounts.payloads import user_private_payload, user_public_payload
from banter.accounts.serializers import (
    AuthResponseSerializer,
    LoginInputSerializer,
    ProfileUpdateInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    TokenPairSerializer,
    UserPrivateSerializer,
    UserPublicSerializer,
    UserSearchParamsSerializer,
)
from banter.accounts.throttling import client_ip, login_throttle
from banter.accounts.tokens import TokenPair, refresh_token_verify, token_pair_for_user
from banter.core.pagination import BanterCursorPagination


def _validated(serializer_class: type[Any], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return cast(dict[str, Any], serializer.validated_data)


def _auth_response(user: User, pair: TokenPair, status_code: int = 200) -> Response:
    body = {"user": user_private_payload(user), "access": pair.access, "refresh": pair.refresh}
    return Response(body, status=status_code)


class _AuthEndpoint(APIView):
    """Credential endpoints: no prior authentication (a stale header must not block login),
    and their own rate-limit bucket so login attempts do not spend the API budget."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_scope = "auth"


class RegisterApi(_AuthEndpoint):
    @extend_schema(
        operation_id="auth_register",
        request=RegisterInputSerializer,
        responses={201: AuthResponseSerializer},
    )
    def post(self, request: Request) -> Response:
        data = _validated(RegisterInputSerializer, request.data)
        user = services.user_register(
            username=data["username"],
            password=data["password"],
            display_name=data.get("display_name", ""),
            email=data.get("email", ""),
        )
        pair = token_pair_for_user(user)
        return _auth_response(user, pair, status.HTTP_201_CREATED)


class LoginApi(_AuthEndpoint):
    @extend_schema(
        operation_id="auth_token", request=LoginInputSerializer, responses=AuthResponseSerializer
    )
    def post(self, request: Request) -> Response:
        data = _validated(LoginInputSerializer, request.data)
        login_throttle(username=data["username"], ip=client_ip(request._request))
        user, pair = services.user_login(
            username=data["username"], password=data["password"], request=request._request
        )
        return _auth_response(user, pair)


class RefreshApi(_AuthEndpoint):
    @extend_schema(
        operation_id="auth_token_refresh",
        request=RefreshInputSerializer,
        responses=TokenPairSerializer,
    )
    def post(self, request: Request) -> Response:
        data = _validated(RefreshInputSerializer, request.data)
        pair = services.token_pair_refresh(refresh_token=data["refresh"])
        return Response({"access": pair.access, "refresh": pair.refresh})


class LogoutApi(APIView):
    # Possessing the refresh token is proof enough, so an app whose access token already
    # expired (or was revoked by an earlier logout) can still log out without refreshing.
    authentication_classes = (OptionalJWTAuthentication, SessionAuthentication)
    permission_classes = (AllowAny,)
    throttle_scope = "auth"

    @extend_schema(
        operation_id="auth_logout",
        # A bearer token is optional here (the refresh token proves who logs out).
        # drf-spectacular emits these as the security requirements (its hint says str).
        auth=[{"bearerAuth": []}, {}],  # type: ignore[list-item]
        request=RefreshInputSerializer,
        responses={204: OpenApiResponse(description="Logged out")},
    )
    def post(self, request: Request) -> Response:
        data = _validated(RefreshInputSerializer, request.data)
        if request.user.is_authenticated:
            user = request.user
        else:
            verified = refresh_token_verify(data["refresh"], allow_blacklisted=True)
            user = selectors.user_get(user_id=verified.user_id)
        services.user_logout(user=user, refresh_token=data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    @extend_schema(operation_id="users_me", responses=UserPrivateSerializer)
    def get(self, request: Request) -> Response:
        return Response(user_private_payload(cast(User, request.user)))

    @extend_schema(
        operation_id="users_me_update",
        request=ProfileUpdateInputSerializer,
        responses=UserPrivateSerializer,
    )
    def patch(self, request: Request) -> Response:
        data = _validated(ProfileUpdateInputSerializer, request.data)
        user = services.user_profile_update(
            user=cast(User, request.user),
            display_name=data.get("display_name"),
            avatar_url=data.get("avatar_url"),
            email=data.get("email"),
            do_not_disturb=data.get("do_not_disturb"),
            push_previews=data.get("push_previews"),
        )
        return Response(user_private_payload(user))


def _viewer_id(request: Request) -> int:
    # IsAuthenticated (the default permission) has run: a real user with an id.
    return int(cast(User, request.user).pk)


class UserDetailApi(APIView):
    @extend_schema(operation_id="users_detail", responses=UserPublicSerializer)
    def get(self, request: Request, user_id: int) -> Response:
        user = selectors.user_get(user_id=user_id)
        visible = selectors.presence_visible_ids(viewer_id=_viewer_id(request), user_ids=[user.pk])
        return Response(user_public_payload(user, presence_visible=user.pk in visible))


class UserPagination(BanterCursorPagination):
    ordering = "username"


@extend_schema_view(
    get=extend_schema(operation_id="users_list", parameters=[UserSearchParamsSerializer])
)
class UserListApi(generics.ListAPIView):
    """Active users to start a direct chat with (the caller excluded)."""

    serializer_class = UserPublicSerializer  # documents the payload; events build it
    pagination_class = UserPagination

    def get_queryset(self) -> Any:
        return User.objects.none()  # schema introspection only; selectors do the reading

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = _validated(UserSearchParamsSerializer, request.query_params)
        users = selectors.user_search(
            query=params.get("search", ""), exclude_user_id=request.user.pk
        )
        page = self.paginate_queryset(users) or []
        visible = selectors.presence_visible_ids(
            viewer_id=_viewer_id(request), user_ids=[user.pk for user in page]
        )
        return self.get_paginated_response(
            [user_public_payload(user, presence_visible=user.pk in visible) for user in page]
        )
