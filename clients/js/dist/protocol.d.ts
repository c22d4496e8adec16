export interface AttachmentPayload {
    height: number | null;
    id: number;
    mimeType: string;
    name: string;
    size: number;
    thumbnailUrl: string | null;
    url: string;
    width: number | null;
}
export interface AuthRefresh {
    token: string;
}
export interface BalanceLowPayload {
    balance: number;
    billingDeadline: string | null;
    callId: number;
    pricePerMinute: number;
    secondsLeft: number;
}
export interface CallEndedPayload {
    answeredAt: string | null;
    billedSeconds: number;
    callId: number;
    callType: string;
    caller: UserSummaryPayload;
    callerId: number;
    cost: number;
    duration: number;
    endReason: string | null;
    endedAt: string | null;
    id: number;
    media: string;
    pricePerMinute: number;
    reason: string | null;
    receiver: UserSummaryPayload;
    receiverId: number;
    ringExpiresAt: string | null;
    startedAt: string;
    status: string;
}
export interface CallInitiate {
    receiverId: number;
    callType: string;
}
export interface CallPayload {
    answeredAt: string | null;
    billedSeconds: number;
    callId: number;
    callType: string;
    caller: UserSummaryPayload;
    callerId: number;
    cost: number;
    duration: number;
    endReason: string | null;
    endedAt: string | null;
    id: number;
    media: string;
    pricePerMinute: number;
    receiver: UserSummaryPayload;
    receiverId: number;
    ringExpiresAt: string | null;
    startedAt: string;
    status: string;
}
export interface CallRef {
    callId: number;
}
export interface CallSignal {
    callId: number;
    signal: Record<string, unknown> | string;
}
export interface CallSignalPayload {
    callId: number;
    fromUserId: number;
    signal: Record<string, unknown> | string;
}
/** The call (flat, as every call event) plus `call` nested and the participant's media credentials: the seed's `{call, token}` shape and ours in one object. */
export interface CallWithMediaPayload {
    answeredAt: string | null;
    appId: string | null;
    billedSeconds: number;
    call: CallPayload;
    callId: number;
    callType: string;
    caller: UserSummaryPayload;
    callerId: number;
    channel: string | null;
    cost: number;
    duration: number;
    endReason: string | null;
    endedAt: string | null;
    id: number;
    media: string;
    pricePerMinute: number;
    receiver: UserSummaryPayload;
    receiverId: number;
    ringExpiresAt: string | null;
    startedAt: string;
    status: string;
    token: string | null;
    uid: number | null;
}
export interface EditMessage {
    messageId: number;
    content: string;
}
export interface MarkRead {
    ids?: number[] | null;
    all?: unknown;
}
export interface MemberPayload {
    avatarUrl: string | null;
    displayName: string;
    id: number;
    joinedAt: string;
    role: string;
    username: string;
}
export interface MessageDeletedPayload {
    messageId: number;
    roomId: number;
    seq: number;
}
export interface MessageEditedPayload {
    content: string;
    editedAt: string | null;
    messageId: number;
    roomId: number;
    seq: number;
}
export interface MessagePayload {
    attachments: AttachmentPayload[];
    clientId: string | null;
    content: string;
    createdAt: string;
    deletedAt: string | null;
    editedAt: string | null;
    id: number;
    messageType: string;
    reactions: ReactionPayload[];
    replyTo: number | null;
    roomId: number;
    seq: number;
    user: UserSummaryPayload;
}
export interface MessageReactionPayload {
    added: boolean;
    count: number;
    emoji: string;
    messageId: number;
    roomId: number;
    userId: number;
}
export interface MessageReadPayload {
    messageId: number | null;
    readAt: string | null;
    roomId: number;
    seq: number;
    userId: number;
}
export interface MessageRef {
    messageId: number;
}
export interface NotificationPayload {
    createdAt: string;
    id: number;
    kind: string;
    payload: Record<string, unknown>;
    readAt: string | null;
}
export interface OnlineUserPayload {
    status: string;
    userId: number;
}
export interface PresenceUpdatePayload {
    status: string;
    userId: number;
}
export interface ReactionPayload {
    count: number;
    emoji: string;
    mine: boolean;
}
export interface ReactionRef {
    messageId: number;
    emoji: string;
}
export interface ReadMark {
    roomId: number;
    messageId: number;
}
/** The `mark-read` ack: where the caller's read position stands. */
export interface ReadPositionPayload {
    messageId: number | null;
    readAt: string | null;
    roomId: number;
    seq: number;
}
/** The `leave-room` ack. */
export interface RoomIdPayload {
    roomId: number;
}
/** The `join-room` ack and the `room-joined` event. */
export interface RoomJoinedPayload {
    onlineUsers: OnlineUserPayload[];
    room: RoomPayload;
    roomId: number;
    typingUsers: number[];
}
export interface RoomPayload {
    createdAt: string;
    id: number;
    isPublic: boolean;
    kind: string;
    lastSeq: number;
    members?: MemberPayload[];
    muted: boolean;
    name: string;
    role: string;
    unreadCount: number;
}
export interface RoomRef {
    roomId: number;
}
export interface SendMessage {
    roomId: number;
    content?: string | null;
    messageType?: string;
    clientId?: string | null;
    replyTo?: number | null;
    attachments?: number[] | null;
}
/** The `presence:update` ack: the status now in force. */
export interface StatusPayload {
    status: string;
}
export interface StatusUpdate {
    status: string;
}
/** `auth:expiring` and the `auth:refresh` ack: when the socket's token expires (epoch s). */
export interface TokenExpiryPayload {
    exp: number;
}
/** `notification:count` and the `notifications:read` ack. */
export interface UnreadCountPayload {
    unread: number;
}
export interface UserJoinedRoomPayload {
    roomId: number;
    user: UserSummaryPayload;
}
export interface UserLeftRoomPayload {
    roomId: number;
    userId: number;
}
export interface UserOfflinePayload {
    lastSeen: string | null;
    userId: number;
}
export interface UserOnlinePayload {
    status: string;
    userId: number;
    username: string;
}
export interface UserStoppedTypingPayload {
    roomId: number;
    userId: number;
}
export interface UserSummaryPayload {
    avatarUrl: string | null;
    displayName: string;
    id: number;
    username: string;
}
export interface UserTypingPayload {
    displayName: string;
    roomId: number;
    userId: number;
    username: string;
}
/** Each event's payload and the `data` of its `{ok: true, data}` ack. */
export interface ClientEvents {
    "join-room": {
        payload: RoomRef;
        ack: RoomJoinedPayload;
    };
    "leave-room": {
        payload: RoomRef;
        ack: RoomIdPayload;
    };
    "send-message": {
        payload: SendMessage;
        ack: MessagePayload;
    };
    "edit-message": {
        payload: EditMessage;
        ack: MessagePayload;
    };
    "delete-message": {
        payload: MessageRef;
        ack: MessageDeletedPayload;
    };
    "react": {
        payload: ReactionRef;
        ack: MessageReactionPayload;
    };
    "unreact": {
        payload: ReactionRef;
        ack: MessageReactionPayload;
    };
    "typing-start": {
        payload: RoomRef;
        ack: unknown;
    };
    "typing-stop": {
        payload: RoomRef;
        ack: unknown;
    };
    "mark-read": {
        payload: ReadMark;
        ack: ReadPositionPayload;
    };
    "presence:update": {
        payload: StatusUpdate;
        ack: StatusPayload;
    };
    "call:initiate": {
        payload: CallInitiate;
        ack: CallWithMediaPayload;
    };
    "call:accept": {
        payload: CallRef;
        ack: CallWithMediaPayload;
    };
    "call:reject": {
        payload: CallRef;
        ack: CallPayload;
    };
    "call:cancel": {
        payload: CallRef;
        ack: CallPayload;
    };
    "call:end": {
        payload: CallRef;
        ack: CallEndedPayload;
    };
    "call:signal": {
        payload: CallSignal;
        ack: unknown;
    };
    "call:token-refresh": {
        payload: CallRef;
        ack: CallWithMediaPayload;
    };
    "notifications:read": {
        payload: MarkRead;
        ack: UnreadCountPayload;
    };
    "auth:refresh": {
        payload: AuthRefresh;
        ack: TokenExpiryPayload;
    };
}
/** Each event's (first) argument; `unknown`: the server has no type for it. */
export interface ServerEvents {
    "room-joined": RoomJoinedPayload;
    "user-joined-room": UserJoinedRoomPayload;
    "user-left-room": UserLeftRoomPayload;
    "message-received": MessagePayload;
    "message-edited": MessageEditedPayload;
    "message-deleted": MessageDeletedPayload;
    "message-reaction": MessageReactionPayload;
    "message-read": MessageReadPayload;
    "user-typing": UserTypingPayload;
    "user-stopped-typing": UserStoppedTypingPayload;
    "user-online": UserOnlinePayload;
    "user-offline": UserOfflinePayload;
    "presence-update": PresenceUpdatePayload;
    "call:incoming": CallWithMediaPayload;
    "call:initiated": CallWithMediaPayload;
    "call:accepted": CallPayload;
    "call:answered-elsewhere": CallPayload;
    "call:rejected": CallPayload;
    "call:cancelled": CallPayload;
    "call:ended": CallEndedPayload;
    "call:missed": CallPayload;
    "call:busy": CallPayload;
    "call:signal": CallSignalPayload;
    "call:balance-low": BalanceLowPayload;
    "notifications:pending": NotificationPayload[];
    "notification:new": NotificationPayload;
    "notification:count": UnreadCountPayload;
    "auth:expiring": TokenExpiryPayload;
    "error": unknown;
    "call:error": unknown;
}
export declare const CLIENT_EVENTS: readonly (keyof ClientEvents)[];
export declare const SERVER_EVENTS: readonly (keyof ServerEvents)[];
/** Recorded in the room event log: the recovery offset is their last argument. */
export declare const RECOVERABLE_EVENTS: readonly (keyof ServerEvents)[];
