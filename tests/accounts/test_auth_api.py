"""REST: register, login, refresh rotation, logout, own profile, public profiles, search."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site as admin_site
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from banter.accounts.admin import UserAdmin
from banter.accounts.models import User
from banter.accounts.services import user_deactivate
from tests.accounts.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def register(client, **fields):
    body = {"username": "alice", "password": PASSWORD, **fields}
    return client.post("/api/auth/register", body, format="json")


def login(client, username: str, password: str = PASSWORD):
    return client.post(
        "/api/auth/token", {"username": username, "password": password}, format="json"
    )


def bearer(client, access: str):
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


class TestRegister:
    def test_creates_user_and_returns_tokens(self, api_client) -> None:
        response = register(api_client, displayName="Alice A.", email="Alice@Example.COM")
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"user", "access", "refresh"}
        assert body["user"]["username"] == "alice"
        assert body["user"]["displayName"] == "Alice A."
        assert body["user"]["email"] == "Alice@example.com"  # domain part normalized
        user = User.objects.get(username="alice")
        assert user.check_password(PASSWORD)
        me = bearer(api_client, body["access"]).get("/api/users/me")
        assert me.status_code == 200
        assert me.json()["id"] == user.pk

    def test_username_taken_ignoring_case(self, api_client, user_factory) -> None:
        user_factory(username="alice")
        response = register(api_client, username="ALICE")
        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "conflict"
        assert body["message"] == "Username is already taken"
        assert "username" in body["details"]["fields"]
        assert User.objects.count() == 1

    @pytest.mark.parametrize("password", ["short", "password123", "12345678901", "alice123x"])
    def test_weak_password(self, api_client, password) -> None:
        response = register(api_client, password=password)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["details"]["fields"]["password"]
        assert not User.objects.exists()

    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"username": "bad name!"}, "username"),
            ({"username": ""}, "username"),
            ({"username": "x" * 151}, "username"),
            ({"email": "not-an-email"}, "email"),
            ({"displayName": "x" * 65}, "displayName"),
            ({"displayName": "evil\u202ename"}, "displayName"),
        ],
    )
    def test_invalid_fields(self, api_client, fields, field) -> None:
        response = register(api_client, **fields)
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"
        assert field in response.json()["details"]["fields"]

    def test_missing_password(self, api_client) -> None:
        response = api_client.post("/api/auth/register", {"username": "bob"}, format="json")
        assert response.status_code == 400
        assert "password" in response.json()["details"]["fields"]


class TestLogin:
    def test_returns_pair_and_user(self, api_client, user_factory) -> None:
        user = user_factory(username="bob", password=PASSWORD)
        response = login(api_client, "bob")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access", "refresh", "user"}
        assert body["user"]["id"] == user.pk
        assert OutstandingToken.objects.filter(user=user).count() == 1

    @pytest.mark.parametrize(
        ("username", "password", "active"),
        [("bob", "wrong-password", True), ("nobody", PASSWORD, True), ("bob", PASSWORD, False)],
        ids=["wrong-password", "unknown-user", "inactive-user"],
    )
    def test_refused_with_one_message(
        self, api_client, user_factory, username, password, active
    ) -> None:
        user_factory(username="bob", password=PASSWORD, is_active=active)
        response = login(api_client, username, password)
        assert response.status_code == 401
        body = response.json()
        assert body["code"] == "unauthorized"
        assert body["message"] == "Invalid username or password"

    def test_stale_authorization_header_does_not_block_login(
        self, api_client, user_factory
    ) -> None:
        user_factory(username="bob", password=PASSWORD)
        bearer(api_client, "expired.or.garbage")
        assert login(api_client, "bob").status_code == 200


class TestRefresh:
    def test_rotates_and_refuses_the_old_token(self, api_client, user_factory) -> None:
        user_factory(username="bob", password=PASSWORD)
        old = login(api_client, "bob").json()["refresh"]

        rotated = api_client.post("/api/auth/token/refresh", {"refresh": old}, format="json")
        assert rotated.status_code == 200
        pair = rotated.json()
        assert set(pair) == {"access", "refresh"}
        assert pair["refresh"] != old

        reused = api_client.post("/api/auth/token/refresh", {"refresh": old}, format="json")
        assert reused.status_code == 401
        assert reused.json()["code"] == "unauthorized"
        assert reused.json()["details"] == {"reason": "revoked"}

        again = api_client.post(
            "/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json"
        )
        assert again.status_code == 200
        assert bearer(api_client, again.json()["access"]).get("/api/users/me").status_code == 200

    def test_access_token_is_not_accepted(self, api_client, user_factory) -> None:
        user_factory(username="bob", password=PASSWORD)
        access = login(api_client, "bob").json()["access"]
        response = api_client.post("/api/auth/token/refresh", {"refresh": access}, format="json")
        assert response.status_code == 401
        assert response.json()["details"] == {"reason": "wrong_type"}

    def test_inactive_user(self, api_client, user_factory) -> None:
        user = user_factory(is_active=False)
        refresh = str(RefreshToken.for_user(user))
        response = api_client.post("/api/auth/token/refresh", {"refresh": refresh}, format="json")
        assert response.status_code == 401
        assert response.json()["details"] == {"reason": "user_inactive"}

    def test_deleted_user(self, api_client, user_factory) -> None:
        user = user_factory()
        refresh = str(RefreshToken.for_user(user))
        user.delete()
        response = api_client.post("/api/auth/token/refresh", {"refresh": refresh}, format="json")
        assert response.status_code == 401

    def test_garbage(self, api_client) -> None:
        response = api_client.post("/api/auth/token/refresh", {"refresh": "x.y.z"}, format="json")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


class TestLogout:
    def test_blacklists_and_revokes_sessions(
        self, api_client, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        user = user_factory(username="bob", password=PASSWORD)
        pair = login(api_client, "bob").json()
        bearer(api_client, pair["access"])
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post(
                "/api/auth/logout", {"refresh": pair["refresh"]}, format="json"
            )
        assert response.status_code == 204
        assert BlacklistedToken.objects.filter(token__user=user).count() == 1
        assert revocations == [{"user_id": user.pk, "reason": "logout"}]
        refused = api_client.post(
            "/api/auth/token/refresh", {"refresh": pair["refresh"]}, format="json"
        )
        assert refused.status_code == 401

    def test_is_idempotent(self, api_client, user_factory) -> None:
        user_factory(username="bob", password=PASSWORD)
        pair = login(api_client, "bob").json()
        bearer(api_client, pair["access"])
        for _ in range(2):
            response = api_client.post(
                "/api/auth/logout", {"refresh": pair["refresh"]}, format="json"
            )
            assert response.status_code == 204

    def test_without_access_token(
        self, api_client, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        user = user_factory(username="bob", password=PASSWORD)
        refresh = login(api_client, "bob").json()["refresh"]
        with django_capture_on_commit_callbacks(execute=True):
            response = api_client.post("/api/auth/logout", {"refresh": refresh}, format="json")
        assert response.status_code == 204
        assert revocations == [{"user_id": user.pk, "reason": "logout"}]

    def test_someone_elses_token_is_forbidden(
        self, auth_client, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        other = str(RefreshToken.for_user(user_factory()))
        with django_capture_on_commit_callbacks(execute=True):
            response = auth_client(user_factory()).post(
                "/api/auth/logout", {"refresh": other}, format="json"
            )
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        assert not BlacklistedToken.objects.exists()
        assert revocations == []

    def test_invalid_token(self, auth_client, user_factory) -> None:
        response = auth_client(user_factory()).post(
            "/api/auth/logout", {"refresh": "x.y.z"}, format="json"
        )
        assert response.status_code == 401


class TestDeactivation:
    def test_service_revokes_tokens_and_sessions(
        self, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        user = user_factory()
        first, second = RefreshToken.for_user(user), RefreshToken.for_user(user)
        second.blacklist()
        with django_capture_on_commit_callbacks(execute=True):
            user_deactivate(user=user)
        user.refresh_from_db()
        assert not user.is_active
        assert BlacklistedToken.objects.filter(token__jti=first["jti"]).exists()
        assert revocations == [{"user_id": user.pk, "reason": "deactivated"}]

    def test_nothing_sent_when_rolled_back(self, user_factory, revocations) -> None:
        user = user_factory()
        # No commit inside the test's wrapping transaction, so nothing may be sent yet.
        user_deactivate(user=user)
        assert revocations == []

    def test_admin_action(
        self, rf, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        admin_user = user_factory(is_staff=True, is_superuser=True)
        targets = [user_factory(), user_factory()]
        request = rf.post("/admin/accounts/user/")
        request.user = admin_user
        model_admin = UserAdmin(User, admin_site)
        model_admin.message_user = lambda *args, **kwargs: None  # type: ignore[method-assign]
        with django_capture_on_commit_callbacks(execute=True):
            model_admin.deactivate_users(
                request, User.objects.filter(pk__in=[u.pk for u in targets])
            )
        assert not User.objects.filter(pk__in=[u.pk for u in targets], is_active=True).exists()
        assert sorted(r["user_id"] for r in revocations) == sorted(u.pk for u in targets)
        assert {r["reason"] for r in revocations} == {"deactivated"}

    def test_admin_change_form_unticking_active(
        self, client, user_factory, revocations, django_capture_on_commit_callbacks
    ) -> None:
        admin_user = user_factory(is_staff=True, is_superuser=True)
        target = user_factory(username="target")
        client.force_login(admin_user)
        form = {
            "username": "target",
            "display_name": target.display_name,
            "is_staff": "",
            "date_joined_0": target.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": target.date_joined.strftime("%H:%M:%S"),
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/admin/accounts/user/{target.pk}/change/", form)
        assert response.status_code == 302, response.content[:2000]
        target.refresh_from_db()
        assert not target.is_active
        assert revocations == [{"user_id": target.pk, "reason": "deactivated"}]


class TestMe:
    def test_get(self, auth_client, user_factory) -> None:
        user = user_factory(email="bob@example.com")
        body = auth_client(user).get("/api/users/me").json()
        assert body == {
            "id": user.pk,
            "username": user.username,
            "displayName": user.display_name,
            "avatarUrl": None,
            "isOnline": False,
            "lastSeen": None,
            "email": "bob@example.com",
            "dateJoined": body["dateJoined"],
            "doNotDisturb": False,
            "pushPreviews": True,
        }
        assert body["dateJoined"].endswith("Z")

    def test_patch(self, auth_client, user_factory) -> None:
        user = user_factory()
        response = auth_client(user).patch(
            "/api/users/me",
            {
                "displayName": "  Bobby  ",
                "avatarUrl": "https://cdn.example.com/a.png",
                "email": "b@example.com",
            },
            format="json",
        )
        assert response.status_code == 200
        body = response.json()
        assert body["displayName"] == "Bobby"
        assert body["avatarUrl"] == "https://cdn.example.com/a.png"
        user.refresh_from_db()
        assert (user.display_name, user.email) == ("Bobby", "b@example.com")

    def test_patch_clears_avatar(self, auth_client, user_factory) -> None:
        user = user_factory(avatar_url="https://cdn.example.com/a.png")
        response = auth_client(user).patch("/api/users/me", {"avatarUrl": ""}, format="json")
        assert response.json()["avatarUrl"] is None

    @pytest.mark.parametrize(
        "url",
        [
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://example.com/a.png",
            "file:///etc/passwd",
            "not a url",
            "https://" + "a" * 500 + ".com",
        ],
    )
    def test_avatar_must_be_http(self, auth_client, user_factory, url) -> None:
        user = user_factory()
        response = auth_client(user).patch("/api/users/me", {"avatarUrl": url}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "validation_error"
        assert "avatarUrl" in response.json()["details"]["fields"]
        user.refresh_from_db()
        assert user.avatar_url == ""

    def test_unknown_fields_are_refused(self, auth_client, user_factory) -> None:
        user = user_factory(username="bob")
        response = auth_client(user).patch(
            "/api/users/me", {"username": "root", "isStaff": True}, format="json"
        )
        assert response.status_code == 400
        assert set(response.json()["details"]["fields"]) == {"username", "isStaff"}
        user.refresh_from_db()
        assert user.username == "bob"

    def test_requires_authentication(self, api_client) -> None:
        response = api_client.get("/api/users/me")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"


class TestProfiles:
    def test_public_profile(self, auth_client, user_factory) -> None:
        other = user_factory(email="secret@example.com", avatar_url="https://x.test/a.png")
        body = auth_client(user_factory()).get(f"/api/users/{other.pk}").json()
        assert body == {
            "id": other.pk,
            "username": other.username,
            "displayName": other.display_name,
            "avatarUrl": "https://x.test/a.png",
            "isOnline": False,
            "lastSeen": None,
        }

    def test_unknown_user(self, auth_client, user_factory) -> None:
        client = auth_client(user_factory())
        for user_id in (999_999, 2**70):
            response = client.get(f"/api/users/{user_id}")
            assert response.status_code == 404
            assert response.json()["code"] == "not_found"

    def test_search(self, auth_client, user_factory) -> None:
        me = user_factory(username="searcher")
        alice = user_factory(username="alice", display_name="Wonderland")
        carol = user_factory(username="carol", display_name="Alice's friend")
        user_factory(username="alicia-gone", is_active=False)
        user_factory(username="dave")
        client = auth_client(me)

        found = client.get("/api/users", {"search": "ALIC"}).json()
        assert [u["id"] for u in found["results"]] == [alice.pk, carol.pk]
        assert "email" not in found["results"][0]

        everyone = client.get("/api/users").json()["results"]
        assert me.pk not in [u["id"] for u in everyone]
        assert [u["username"] for u in everyone] == ["alice", "carol", "dave"]

    def test_search_pages(self, auth_client, user_factory) -> None:
        client = auth_client(user_factory(username="zed"))
        for name in ("u1", "u2", "u3"):
            user_factory(username=name)
        first = client.get("/api/users", {"limit": 2}).json()
        assert [u["username"] for u in first["results"]] == ["u1", "u2"]
        assert first["next"]
        second = client.get(first["next"]).json()
        assert [u["username"] for u in second["results"]] == ["u3"]
        assert second["next"] is None


class TestDocumentedShapes:
    """The response serializers only document what payloads.py builds; keep them in step."""

    def test_user_payloads(self, user_factory) -> None:
        from banter.accounts import payloads, serializers

        user = user_factory()
        pairs = [
            (payloads.user_summary_payload, serializers.UserSummarySerializer),
            (payloads.user_public_payload, serializers.UserPublicSerializer),
            (payloads.user_private_payload, serializers.UserPrivateSerializer),
        ]
        for build, documented in pairs:
            assert set(build(user)) == set(documented().fields)
