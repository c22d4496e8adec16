"""Access-token verification: every way a token must be refused, for sockets and REST."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from banter.accounts.tokens import (
    MAX_TOKEN_LENGTH,
    access_token_verify,
    refresh_token_verify,
    user_for_token,
)
from banter.core.errors import BanterError, ErrorCode
from tests.accounts.conftest import TokenFactory, jwt_claims

pytestmark = [
    pytest.mark.django_db,
    # The wrong-algorithm cases sign HS512 with the (HS256-sized) test key on purpose.
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


def _b64(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def unsigned_token(user_id: int) -> str:
    """alg=none: a header, the claims and an empty signature."""
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(jwt_claims(user_id))}."


def rejected(raw: str) -> BanterError:
    with pytest.raises(BanterError) as caught:
        access_token_verify(raw)
    return caught.value


class TestAccessTokenVerifyAccepts:
    def test_token_issued_by_simplejwt(self, user_factory, django_assert_num_queries) -> None:
        user = user_factory()
        raw = str(AccessToken.for_user(user))
        # The socket layer calls this on every handshake: no database work.
        with django_assert_num_queries(0):
            user_id, claims = access_token_verify(raw)
        assert user_id == user.pk
        assert claims["token_type"] == "access"
        assert claims["aud"] == "banter"
        assert claims["iss"] == "banter"

    def test_crafted_valid_token(self, make_token: TokenFactory) -> None:
        assert access_token_verify(make_token(42))[0] == 42


class TestAccessTokenVerifyRejects:
    @pytest.mark.parametrize(
        ("build", "reason"),
        [
            pytest.param(lambda make: unsigned_token(1), "algorithm", id="alg-none"),
            pytest.param(lambda make: make(1, algorithm="HS512"), "algorithm", id="wrong-alg"),
            pytest.param(lambda make: make(1, key="x" * 40), "signature", id="bad-signature"),
            pytest.param(lambda make: make(1, aud="other-app"), "audience", id="wrong-aud"),
            pytest.param(lambda make: make(1, aud=None), "missing_claim", id="missing-aud"),
            pytest.param(lambda make: make(1, iss="evil"), "issuer", id="wrong-iss"),
            pytest.param(lambda make: make(1, iss=None), "missing_claim", id="missing-iss"),
            pytest.param(
                lambda make: make(1, nbf=int(time.time()) + 600), "not_yet_valid", id="future-nbf"
            ),
            pytest.param(
                lambda make: make(1, token_type="refresh"), "wrong_type", id="refresh-claims"
            ),
            pytest.param(lambda make: make(1, token_type=None), "wrong_type", id="no-type"),
            pytest.param(lambda make: make(1, exp=None), "invalid", id="no-exp"),
            pytest.param(lambda make: make(1, jti=None), "invalid", id="no-jti"),
            pytest.param(lambda make: make(1, exp=10**30), "invalid", id="exp-overflow"),
            pytest.param(lambda make: make(1, exp="9" * 30), "invalid", id="exp-digit-string"),
            pytest.param(lambda make: make(1, exp="soon"), "malformed", id="exp-not-a-number"),
            pytest.param(lambda make: make(None), "missing_claim", id="no-user-id"),
            pytest.param(lambda make: make("abc"), "missing_claim", id="non-numeric-user-id"),
            pytest.param(lambda make: make("-1"), "missing_claim", id="negative-user-id"),
            pytest.param(lambda make: make(str(2**64)), "missing_claim", id="huge-user-id"),
            pytest.param(lambda make: "not.a.jwt", "malformed", id="garbage"),
            pytest.param(lambda make: "a" * (MAX_TOKEN_LENGTH + 1), "malformed", id="oversize"),
            pytest.param(lambda make: "", "missing", id="empty"),
        ],
    )
    def test_unauthorized_with_reason(self, make_token: TokenFactory, build, reason) -> None:
        error = rejected(build(make_token))
        assert error.code is ErrorCode.UNAUTHORIZED
        assert error.details == {"reason": reason}
        assert error.http_status == 401

    def test_expired_token_has_its_own_code(self, make_token: TokenFactory) -> None:
        now = int(time.time())
        error = rejected(make_token(1, exp=now - 1, iat=now - 600))
        assert error.code is ErrorCode.TOKEN_EXPIRED
        assert error.details == {"reason": "expired"}

    def test_refresh_token_used_as_access(self, user_factory) -> None:
        refresh = RefreshToken.for_user(user_factory())
        error = rejected(str(refresh))
        assert error.code is ErrorCode.UNAUTHORIZED
        assert error.details == {"reason": "wrong_type"}

    def test_error_does_not_carry_the_token(self, make_token: TokenFactory) -> None:
        raw = make_token(1, key="y" * 40)
        error = rejected(raw)
        assert raw not in repr(error)
        assert error.__cause__ is None
        assert error.__suppress_context__


class TestUserForToken:
    def test_active_user(self, user_factory) -> None:
        user = user_factory()
        assert user_for_token(str(AccessToken.for_user(user))) == user

    def test_inactive_user(self, user_factory) -> None:
        user = user_factory(is_active=False)
        with pytest.raises(BanterError) as caught:
            user_for_token(str(AccessToken.for_user(user)))
        assert caught.value.code is ErrorCode.UNAUTHORIZED
        assert caught.value.details == {"reason": "user_inactive"}

    def test_deleted_user(self, user_factory) -> None:
        user = user_factory()
        raw = str(AccessToken.for_user(user))
        user.delete()
        with pytest.raises(BanterError) as caught:
            user_for_token(raw)
        assert caught.value.details == {"reason": "user_not_found"}

    def test_invalid_token_checked_before_the_database(
        self, make_token: TokenFactory, django_assert_num_queries
    ) -> None:
        with django_assert_num_queries(0), pytest.raises(BanterError):
            user_for_token(make_token(1, key="z" * 40))


class TestRefreshTokenVerify:
    def test_access_token_is_not_a_refresh_token(self, user_factory) -> None:
        with pytest.raises(BanterError) as caught:
            refresh_token_verify(str(AccessToken.for_user(user_factory())))
        assert caught.value.details == {"reason": "wrong_type"}

    def test_blacklisted(self, user_factory) -> None:
        refresh = RefreshToken.for_user(user_factory())
        refresh.blacklist()
        with pytest.raises(BanterError) as caught:
            refresh_token_verify(str(refresh))
        assert caught.value.code is ErrorCode.UNAUTHORIZED
        assert caught.value.details == {"reason": "revoked"}
        assert refresh_token_verify(str(refresh), allow_blacklisted=True).jti == refresh["jti"]


class TestRestAuthenticationRejects:
    """The REST API (simplejwt's JWTAuthentication) refuses the same tokens."""

    @pytest.mark.parametrize(
        "build",
        [
            pytest.param(lambda make, uid: unsigned_token(uid), id="alg-none"),
            pytest.param(lambda make, uid: make(uid, algorithm="HS512"), id="wrong-alg"),
            pytest.param(lambda make, uid: make(uid, key="k" * 40), id="bad-signature"),
            pytest.param(lambda make, uid: make(uid, aud="other"), id="wrong-aud"),
            pytest.param(lambda make, uid: make(uid, iss="other"), id="wrong-iss"),
            pytest.param(lambda make, uid: make(uid, token_type="refresh"), id="refresh-type"),
            pytest.param(lambda make, uid: make(uid, nbf=int(time.time()) + 600), id="future-nbf"),
        ],
    )
    def test_rejected(self, api_client, user_factory, make_token: TokenFactory, build) -> None:
        user = user_factory()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {build(make_token, user.pk)}")
        response = api_client.get("/api/users/me")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"

    def test_expired(self, api_client, user_factory, make_token: TokenFactory) -> None:
        user = user_factory()
        now = int(time.time())
        token = make_token(user.pk, exp=now - 5, iat=now - 600)
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = api_client.get("/api/users/me")
        assert response.status_code == 401
        assert response.json()["code"] == "token_expired"

    def test_inactive_user(self, auth_client, user_factory) -> None:
        response = auth_client(user_factory(is_active=False)).get("/api/users/me")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"

    def test_valid_crafted_token_accepted(
        self, api_client, user_factory, make_token: TokenFactory
    ) -> None:
        user = user_factory()
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(user.pk)}")
        assert api_client.get("/api/users/me").status_code == 200


class TestBanterJWTAuthentication:
    """banter.accounts.authentication: REST authentication over the same verification."""

    @staticmethod
    def authenticate(header: str | None):
        from rest_framework.request import Request
        from rest_framework.test import APIRequestFactory

        from banter.accounts.authentication import JWTAuthentication

        factory = APIRequestFactory()
        request = (
            factory.get("/") if header is None else factory.get("/", HTTP_AUTHORIZATION=header)
        )
        return JWTAuthentication().authenticate(Request(request))

    def test_valid(self, user_factory) -> None:
        user = user_factory()
        authenticated = self.authenticate(f"Bearer {AccessToken.for_user(user)}")
        assert authenticated is not None
        assert authenticated[0] == user
        assert authenticated[1]["user_id"] == str(user.pk)

    @pytest.mark.parametrize("header", [None, "Basic abc"])
    def test_not_a_bearer_token(self, header) -> None:
        assert self.authenticate(header) is None

    @pytest.mark.parametrize(
        ("claims", "code", "reason"),
        [
            ({"exp": 10**30}, ErrorCode.UNAUTHORIZED, "invalid"),
            ({"token_type": "refresh"}, ErrorCode.UNAUTHORIZED, "wrong_type"),
            ({"exp": 1, "iat": 0}, ErrorCode.TOKEN_EXPIRED, "expired"),
        ],
    )
    def test_rejected(self, user_factory, make_token: TokenFactory, claims, code, reason) -> None:
        with pytest.raises(BanterError) as caught:
            self.authenticate(f"Bearer {make_token(user_factory().pk, **claims)}")
        assert (caught.value.code, caught.value.details) == (code, {"reason": reason})

    def test_inactive_user(self, user_factory) -> None:
        with pytest.raises(BanterError) as caught:
            self.authenticate(f"Bearer {AccessToken.for_user(user_factory(is_active=False))}")
        assert caught.value.details == {"reason": "user_inactive"}
