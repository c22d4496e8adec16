/** The Banter client: a thin layer over the official socket.io-client (injected, so a page
 * passes window.io and Node the npm module) that adds what every Banter client needs
 * (docs/protocol.md, docs/guarantees.md):
 *
 * - typed events and acks (protocol.ts, generated from the server's own types);
 * - `send()` with a clientId and an outbox that sends again after a reconnect until the
 *   server acknowledges (the server stores a clientId once);
 * - each room's messages delivered once and in seq order: recovery replays and repeats
 *   dropped, gaps filled over REST (after a reconnect that was not recovered, or when a seq
 *   is missing);
 * - the access token renewed on `auth:expiring` (REST refresh, then `auth:refresh`), and
 *   before a connect when it has expired. */
import type { ManagerOptions, Socket, SocketOptions } from "socket.io-client";
import { BanterError, type ServerErrorEvent } from "./errors.js";
import { type OutboxEntry } from "./outbox.js";
import { type ClientEvents, type MessagePayload, type ServerEvents } from "./protocol.js";
import { type FetchLike, RestClient, type Tokens } from "./rest.js";
import { type DeliveryInfo } from "./streams.js";
export type IoOptions = Partial<ManagerOptions & SocketOptions>;
/** socket.io-client's `io` (the npm module's export, or window.io of its browser build). */
export type IoFactory = (uri: string, options?: IoOptions) => Socket;
export interface BanterClientOptions {
    /** The server's origin, e.g. "https://chat.example.com" (a page: location.origin). */
    url: string;
    io: IoFactory;
    /** The access token (and the refresh token, to renew it over REST). */
    token?: string;
    refreshToken?: string | null;
    fetch?: FetchLike;
    /** A REST client to share (its tokens are the socket's); else one is made from the above. */
    rest?: RestClient;
    /** Renew the access token yourself instead of POST /api/auth/token/refresh. */
    refreshAccess?: () => Promise<string | Tokens>;
    onTokens?: (tokens: Tokens) => void;
    onSessionExpired?: (error: BanterError) => void;
    /** More socket.io-client options (transports, reconnectionDelay, …). */
    socketOptions?: IoOptions;
    /** How long an ack may take (default 10 s). */
    ackTimeoutMs?: number;
    /** Sends of one message without an ack while connected before it fails (default 3). */
    sendAttempts?: number;
    /** How long a later seq waits before a gap is filled over REST (default 250 ms). */
    gapDelayMs?: number;
    /** Connect at once (default true); else call connect(). */
    autoConnect?: boolean;
}
export interface ConnectInfo {
    /** socket.recovered: the missed events follow (else the SDK resyncs over REST). */
    recovered: boolean;
    /** Not the first connect of this client. */
    reconnect: boolean;
    transport: string;
}
/** Events of the client itself (besides the server's). */
export interface LifecycleEvents {
    connect: ConnectInfo;
    disconnect: {
        reason: string;
        willReconnect: boolean;
    };
    reconnect_attempt: {
        attempt: number;
    };
    reconnect_failed: Record<string, never>;
    /** The transport was upgraded (polling -> websocket). */
    upgrade: {
        transport: string;
    };
    /** A connect failed: `willRetry` false when the server refused it (data.code), and the
     * SDK could not fix it by itself (it does for token_expired). */
    connect_error: {
        code?: string;
        message: string;
        willRetry: boolean;
    };
    tokens: Tokens;
    session_expired: BanterError;
    /** Renewing the socket's token on auth:expiring failed. */
    refresh_failed: BanterError;
    /** The server ended the session (logout, deactivation, …): no reconnect. */
    revoked: {
        reason: string;
    };
    outbox: readonly OutboxEntry[];
    /** Messages a gap fill brought over REST. */
    resync: {
        roomId: number;
        count: number;
    };
    /** Seqs the server could not provide were skipped (see RoomStreams). */
    gap: {
        roomId: number;
        after: number;
        resumedAt: number;
    };
}
/** The server's events with the two it has no type for filled in by hand. */
export type ServerEventMap = Omit<ServerEvents, "error" | "call:error"> & {
    error: ServerErrorEvent;
    "call:error": ServerErrorEvent & {
        error: string;
    };
};
export type EventMap = ServerEventMap & LifecycleEvents;
export type EventName = keyof EventMap;
export type Listener<E extends EventName> = (payload: EventMap[E], info: DeliveryInfo) => void;
export interface SendOptions {
    /** Reuse to resend the same message (default: a new random id). */
    clientId?: string;
    messageType?: string;
    replyTo?: number | null;
    attachments?: number[];
}
export declare function newClientId(): string;
export declare class BanterClient {
    readonly socket: Socket;
    readonly rest: RestClient;
    private readonly listeners;
    private readonly outbox;
    private readonly streams;
    private readonly offsets;
    private readonly ackTimeoutMs;
    private everConnected;
    private revokedReason;
    private closed;
    constructor(options: BanterClientOptions);
    get connected(): boolean;
    /** The Engine.IO transport in use ("polling", "websocket"), or null when disconnected. */
    get transport(): string | null;
    /** Connect (again), renewing an access token that is about to expire first. */
    connect(): Promise<void>;
    /** Disconnect; the outbox keeps what was not acknowledged until connect(). */
    disconnect(): void;
    /** Disconnect for good: unsent messages are rejected ("closed"), listeners dropped. */
    close(): void;
    /** Listen to a server event (typed by protocol.ts) or a client event; returns the
     * function that stops listening. `message-received` comes once per message, in seq
     * order per room (info.source says whether it came over the socket or REST). */
    on<E extends EventName>(event: E, listener: Listener<E>): () => void;
    off<E extends EventName>(event: E, listener: Listener<E>): void;
    private emitLocal;
    /** Emit an event with an ack: resolves with `data` of `{ok: true, data}`, rejects with a
     * BanterError (the server's code, or "timeout" / "disconnected"). Emitted while
     * disconnected, it waits for the connection within the timeout. */
    call<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]["payload"], options?: {
        timeoutMs?: number;
    }): Promise<ClientEvents[E]["ack"]>;
    /** Emit without an ack (typing-start/stop): a failure comes back as an `error` event. */
    emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]["payload"]): void;
    private ack;
    /** Send a message: queued while offline, sent again after a reconnect until acknowledged
     * (same clientId: stored once). Resolves with the stored message; rejects with the
     * server's refusal (not retried: send again with the same clientId to retry). */
    send(roomId: number, content: string | null, options?: SendOptions): Promise<MessagePayload>;
    /** Messages not acknowledged yet, in send order. */
    pending(): readonly OutboxEntry[];
    /** The app has `roomId` up to `seq` (e.g. from its history page): later messages follow
     * from there, gaps after it are filled. */
    trackRoom(roomId: number, seq: number): void;
    /** Stop following a room (the user left it). */
    forgetRoom(roomId: number): void;
    /** The highest seq of a room delivered with nothing missing before it (null: unknown). */
    roomPosition(roomId: number): number | null;
    /** Page a room forward over REST from its position (the SDK does this by itself after a
     * reconnect that was not recovered and on a seq gap). */
    resync(roomId: number): Promise<void>;
    private wire;
    private onServerEvent;
    private renewSocketToken;
}
export declare function createBanterClient(options: BanterClientOptions): BanterClient;
