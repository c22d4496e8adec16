from django.urls import path

from chat import api, attachments_api

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
    path("uploads/<int:upload_id>", attachments_api.UploadDetailApi.as_view(), name="chat-upload"),
    path(
        "uploads/<int:upload_id>/file",
        attachments_api.UploadFileApi.as_view(),
        name="chat-upload-file",
    ),
    path(
        "uploads/<int:upload_id>/thumbnail",
        attachments_api.UploadThumbnailApi.as_view(),
        name="chat-upload-thumbnail",
    ),
    path("search/messages", api.MessageSearchApi.as_view(), name="chat-message-search"),
    path("messages/<int:message_id>", api.MessageDetailApi.as_view(), name="chat-message"),
    path(
        "messages/<int:message_id>/reactions",
        api.MessageReactionsApi.as_view(),
        name="chat-message-reactions",
    ),
]
