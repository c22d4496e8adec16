from django.urls import path

from chat import api

urlpatterns = [
    path("rooms", api.RoomListApi.as_view(), name="chat-rooms"),
    path("rooms/direct", api.DirectRoomApi.as_view(), name="chat-direct-room"),
    path("rooms/<int:room_id>", api.RoomDetailApi.as_view(), name="chat-room"),
    path("rooms/<int:room_id>/members", api.RoomMembersApi.as_view(), name="chat-room-members"),
    path(
        "rooms/<int:room_id>/members/<int:user_id>",
        api.RoomMemberDetailApi.as_view(),
        name="chat-room-member",
    ),
    path("rooms/<int:room_id>/messages", api.RoomMessagesApi.as_view(), name="chat-room-messages"),
    path("rooms/<int:room_id>/read", api.RoomReadApi.as_view(), name="chat-room-read"),
    path("search/messages", api.MessageSearchApi.as_view(), name="chat-message-search"),
    path("messages/<int:message_id>", api.MessageDetailApi.as_view(), name="chat-message"),
    path(
        "messages/<int:message_id>/reactions",
        api.MessageReactionsApi.as_view(),
        name="chat-message-reactions",
    ),
]
