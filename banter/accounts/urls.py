from django.urls import path

from banter.accounts import api

urlpatterns = [
    path("auth/register", api.RegisterApi.as_view(), name="auth-register"),
    path("auth/token", api.LoginApi.as_view(), name="auth-token"),
    path("auth/token/refresh", api.RefreshApi.as_view(), name="auth-token-refresh"),
    path("auth/logout", api.LogoutApi.as_view(), name="auth-logout"),
    path("users", api.UserListApi.as_view(), name="users-list"),
    path("users/me", api.MeApi.as_view(), name="users-me"),
    path("users/<int:user_id>", api.UserDetailApi.as_view(), name="users-detail"),
]
