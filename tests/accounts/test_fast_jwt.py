"""The fast acceptance path (banter/accounts/fast_jwt.py) accepts the common access token and
nothing simplejwt would refuse: every other token goes to simplejwt, which says why."""

from __future__ import annotations

import time
from typing import Any

import pytest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from banter.accounts import fast_jwt
from banter.accounts.models import User
from banter.accounts.tokens import access_token_verify, token_pair_for_user
from tests.accounts.conftest import TokenFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning"),
]


def simplejwt_accepts(raw: str) -> bool:
    try:
        AccessToken(raw)  # type: ignore[arg-type]
    except (TokenError, OverflowError, TypeError, ValueError):  # as tokens._decode catches
        return False
    return True


def test_an_issued_access_token_takes_the_fast_path_with_the_same_claims() -> None:
    user = User.objects.create_user(username="fast", password="x" * 12)
    access = token_pair_for_user(user).access
    claims = fast_jwt.access_claims(access)
    assert claims is not None
    assert claims == AccessToken(access).payload  # type: ignore[arg-type]
    assert access_token_verify(access) == (user.pk, claims)


def test_a_refresh_token_does_not() -> None:
    user = User.objects.create_user(username="fast", password="x" * 12)
    assert fast_jwt.access_claims(token_pair_for_user(user).refresh) is None


REFUSED: dict[str, dict[str, Any]] = {
    "expired": {"exp": int(time.time()) - 1},
    "expiring now": {"exp": int(time.time())},
    "other key": {"key": "another-signing-key-of-a-decent-length-0123456789"},
    "HS512": {"algorithm": "HS512"},
    "refresh type": {"token_type": "refresh"},
    "no jti": {"jti": None},
    "no exp": {"exp": None},
    "exp in year 10000": {"exp": 253402300800},
    "exp far beyond": {"exp": 10**30},
    "other audience": {"aud": "someone-else"},
    "other issuer": {"iss": "someone-else"},
    "not yet valid": {"nbf": int(time.time()) + 3600},
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_simplejwt_refuses_never_takes_the_fast_path(
    make_token: TokenFactory, case: str
) -> None:
    raw = make_token(1, **REFUSED[case])
    assert not simplejwt_accepts(raw)
    assert fast_jwt.access_claims(raw) is None


ODD: dict[str, dict[str, Any]] = {
    "float exp": {"exp": time.time() + 300},
    "iat in the future": {"iat": int(time.time()) + 3600},
    "list audience": {"aud": ["banter", "other"]},
    "no audience": {"aud": None},
    "kid header": {"headers": {"kid": "1"}},
}


@pytest.mark.parametrize("case", sorted(ODD))
def test_an_odd_shape_goes_to_simplejwt_whatever_it_decides(
    make_token: TokenFactory, case: str
) -> None:
    raw = make_token(1, **ODD[case])
    assert fast_jwt.access_claims(raw) is None


def test_a_tampered_token_does_not(make_token: TokenFactory) -> None:
    header, payload, signature = make_token(1).split(".")
    other_payload = make_token(2).split(".")[1]
    for raw in (
        f"{header}.{other_payload}.{signature}",  # claims swapped under the signature
        f"{header}.{payload}.{signature[:-2]}",  # signature cut
        f"{header}.{payload}.{signature[:5]}!{signature[5:]}",  # junk base64 skips
        f"{header}.{payload}.",  # no signature (alg none style)
        f"{header}.{payload}",
        "",
    ):
        assert fast_jwt.access_claims(raw) is None, raw
