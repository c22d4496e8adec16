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
import { BanterError, clientError } from "./errors.js";
import { Outbox } from "./outbox.js";
import { RECOVERABLE_EVENTS, SERVER_EVENTS, } from "./protocol.js";
import { RestClient } from "./rest.js";
import { RoomStreams, SeenOffsets } from "./streams.js";
const DISCONNECTED = "socket has been disconnected"; // socket.io-client's error for lost acks
// Handled here first (then handed to the app as well).
const HANDLED = new Set(["auth:expiring", "error"]);
export function newClientId() {
    const crypto = globalThis.crypto;
    // randomUUID exists only in secure contexts; a plain-http deployment may not be one.
    if (crypto?.randomUUID)
        return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
export class BanterClient {
    constructor(options) {
        this.listeners = new Map();
        this.offsets = new SeenOffsets();
        this.everConnected = false;
        this.revokedReason = null;
        this.closed = false;
        this.ackTimeoutMs = options.ackTimeoutMs ?? 10000;
        this.rest =
            options.rest ??
                new RestClient({
                    baseUrl: options.url,
                    fetch: options.fetch,
                    tokens: options.token ? { access: options.token, refresh: options.refreshToken } : undefined,
                    refreshAccess: options.refreshAccess,
                    onTokens: (tokens) => {
                        options.onTokens?.(tokens);
                        this.emitLocal("tokens", tokens);
                    },
                    onSessionExpired: (error) => {
                        options.onSessionExpired?.(error);
                        this.emitLocal("session_expired", error);
                    },
                });
        this.outbox = new Outbox({
            emit: (payload) => this.ack("send-message", payload),
            connected: () => this.socket.connected,
            maxAttempts: options.sendAttempts,
            onChange: (entries) => this.emitLocal("outbox", entries),
        });
        this.streams = new RoomStreams({
            deliver: (message, info) => this.emitLocal("message-received", message, info),
            fetchAfter: (roomId, after) => this.rest.messages(roomId, { after, limit: 100 }),
            onFilled: (roomId, count) => this.emitLocal("resync", { roomId, count }),
            onGap: (roomId, after, resumedAt) => this.emitLocal("gap", { roomId, after, resumedAt }),
            gapDelayMs: options.gapDelayMs,
        });
        // auth is a function: every (re)connect sends the current token (socket.io-client adds
        // the recovery pid and offset to it by itself).
        this.socket = options.io(options.url, {
            ...options.socketOptions,
            autoConnect: false,
            auth: (callback) => callback({ token: this.rest.accessToken }),
        });
        this.wire();
        if (options.autoConnect ?? true)
            void this.connect();
    }
    get connected() {
        return this.socket.connected;
    }
    /** The Engine.IO transport in use ("polling", "websocket"), or null when disconnected. */
    get transport() {
        return this.socket.connected ? (this.socket.io.engine?.transport?.name ?? null) : null;
    }
    /** Connect (again), renewing an access token that is about to expire first. */
    async connect() {
        if (this.closed || this.socket.connected || this.socket.active)
            return;
        const expiry = this.rest.accessExpiry();
        if (expiry && expiry < Date.now() + 5000) {
            try {
                await this.rest.refreshTokens();
            }
            catch {
                return; // session_expired (or the network): nothing to connect with
            }
        }
        if (!this.closed && !this.socket.connected && !this.socket.active)
            this.socket.connect();
    }
    /** Disconnect; the outbox keeps what was not acknowledged until connect(). */
    disconnect() {
        this.socket.disconnect();
    }
    /** Disconnect for good: unsent messages are rejected ("closed"), listeners dropped. */
    close() {
        this.closed = true;
        this.outbox.close();
        this.streams.close();
        this.socket.disconnect();
        this.socket.removeAllListeners();
        this.listeners.clear();
    }
    // --- Events ---------------------------------------------------------------------------
    /** Listen to a server event (typed by protocol.ts) or a client event; returns the
     * function that stops listening. `message-received` comes once per message, in seq
     * order per room (info.source says whether it came over the socket or REST). */
    on(event, listener) {
        let set = this.listeners.get(event);
        if (!set)
            this.listeners.set(event, (set = new Set()));
        set.add(listener);
        return () => this.off(event, listener);
    }
    off(event, listener) {
        this.listeners.get(event)?.delete(listener);
    }
    emitLocal(event, payload, info = { source: "socket" }) {
        for (const listener of [...(this.listeners.get(event) ?? [])]) {
            try {
                listener(payload, info);
            }
            catch (error) {
                // One listener's bug must not stop the others (nor the SDK's bookkeeping).
                setTimeout(() => {
                    throw error;
                });
            }
        }
    }
    // --- Calls ----------------------------------------------------------------------------
    /** Emit an event with an ack: resolves with `data` of `{ok: true, data}`, rejects with a
     * BanterError (the server's code, or "timeout" / "disconnected"). Emitted while
     * disconnected, it waits for the connection within the timeout. */
    call(event, payload, options = {}) {
        return this.ack(event, payload, options.timeoutMs);
    }
    /** Emit without an ack (typing-start/stop): a failure comes back as an `error` event. */
    emit(event, payload) {
        this.socket.emit(event, payload);
    }
    ack(event, payload, timeoutMs = this.ackTimeoutMs) {
        return new Promise((resolve, reject) => {
            this.socket
                .timeout(timeoutMs)
                .emit(event, payload, (error, answer) => {
                if (error) {
                    reject(error.message === DISCONNECTED
                        ? clientError("disconnected", "The connection dropped before the answer")
                        : clientError("timeout", "No answer from the server"));
                }
                else if (answer?.ok) {
                    resolve(answer.data);
                }
                else {
                    reject(new BanterError(answer?.error ?? { code: "internal_error", message: "Bad ack" }));
                }
            });
        });
    }
    // --- Messages -------------------------------------------------------------------------
    /** Send a message: queued while offline, sent again after a reconnect until acknowledged
     * (same clientId: stored once). Resolves with the stored message; rejects with the
     * server's refusal (not retried: send again with the same clientId to retry). */
    send(roomId, content, options = {}) {
        const payload = {
            roomId,
            clientId: options.clientId ?? newClientId(),
        };
        if (content !== null && content !== undefined)
            payload.content = content;
        if (options.messageType)
            payload.messageType = options.messageType;
        if (options.replyTo !== undefined && options.replyTo !== null)
            payload.replyTo = options.replyTo;
        if (options.attachments?.length)
            payload.attachments = options.attachments;
        return this.outbox.send(payload);
    }
    /** Messages not acknowledged yet, in send order. */
    pending() {
        return this.outbox.pending();
    }
    /** The app has `roomId` up to `seq` (e.g. from its history page): later messages follow
     * from there, gaps after it are filled. */
    trackRoom(roomId, seq) {
        this.streams.track(roomId, seq);
    }
    /** Stop following a room (the user left it). */
    forgetRoom(roomId) {
        this.streams.forget(roomId);
    }
    /** The highest seq of a room delivered with nothing missing before it (null: unknown). */
    roomPosition(roomId) {
        return this.streams.position(roomId);
    }
    /** Page a room forward over REST from its position (the SDK does this by itself after a
     * reconnect that was not recovered and on a seq gap). */
    resync(roomId) {
        return this.streams.resync(roomId);
    }
    // --- Socket wiring --------------------------------------------------------------------
    wire() {
        const socket = this.socket;
        socket.on("connect", () => {
            const reconnect = this.everConnected;
            this.everConnected = true;
            this.revokedReason = null;
            const engine = socket.io.engine;
            engine?.on("upgrade", (transport) => this.emitLocal("upgrade", { transport: transport.name }));
            const recovered = Boolean(socket.recovered);
            this.emitLocal("connect", { recovered, reconnect, transport: engine?.transport?.name ?? "" });
            // Not recovered: what was missed is not replayed, page it over REST.
            if (reconnect && !recovered)
                this.streams.resyncAll();
            this.outbox.flush();
        });
        socket.on("disconnect", (reason) => {
            this.outbox.requeue();
            if (reason === "io server disconnect" && !this.closed) {
                // The server ended the session: socket.io-client does not reconnect by itself.
                if (this.revokedReason !== null) {
                    this.emitLocal("disconnect", { reason, willReconnect: false });
                    this.emitLocal("revoked", { reason: this.revokedReason });
                    return;
                }
                // Token expiry (or another server-side end): a fresh token, then connect again.
                this.emitLocal("disconnect", { reason, willReconnect: true });
                this.rest.refreshTokens().then(() => void this.connect(), () => { });
                return;
            }
            this.emitLocal("disconnect", { reason, willReconnect: socket.active });
        });
        socket.io.on("reconnect_attempt", (attempt) => this.emitLocal("reconnect_attempt", { attempt }));
        socket.io.on("reconnect_failed", () => this.emitLocal("reconnect_failed", {}));
        socket.on("connect_error", (error) => {
            const code = error.data?.code;
            if (socket.active) {
                // A transport error: socket.io-client retries by itself.
                this.emitLocal("connect_error", { code, message: error.message, willRetry: true });
                return;
            }
            // The server refused the CONNECT: socket.io-client does not retry on its own.
            if (code === "token_expired") {
                this.emitLocal("connect_error", { code, message: error.message, willRetry: true });
                this.rest.refreshTokens().then(() => void this.connect(), () => { });
                return;
            }
            this.emitLocal("connect_error", { code, message: error.message, willRetry: false });
        });
        socket.on("auth:expiring", (payload) => {
            void this.renewSocketToken();
            this.emitLocal("auth:expiring", payload);
        });
        socket.on("error", (payload) => {
            const reason = payload?.details?.reason;
            if (payload?.code === "unauthorized" && typeof reason === "string")
                this.revokedReason = reason;
            this.emitLocal("error", payload);
        });
        const recoverable = new Set(RECOVERABLE_EVENTS);
        for (const name of SERVER_EVENTS) {
            if (HANDLED.has(name))
                continue;
            socket.on(name, (...args) => {
                const last = args[args.length - 1];
                const offset = recoverable.has(name) && typeof last === "string" ? last : undefined;
                // A recorded event seen before (the recovery lookback repeats a few): dropped.
                if (offset !== undefined && !this.offsets.add(offset))
                    return;
                this.onServerEvent(name, args[0], { source: "socket", offset });
            });
        }
    }
    onServerEvent(name, payload, info) {
        if (name === "message-received") {
            this.streams.accept(payload, info); // delivered in seq order, once
            return;
        }
        if (name === "message-edited")
            this.streams.patch(payload, false);
        if (name === "message-deleted")
            this.streams.patch(payload, true);
        this.emitLocal(name, payload, info);
    }
    async renewSocketToken() {
        try {
            const token = await this.rest.refreshTokens();
            await this.call("auth:refresh", { token });
        }
        catch (error) {
            this.emitLocal("refresh_failed", error instanceof BanterError ? error : clientError("network_error", String(error)));
        }
    }
}
export function createBanterClient(options) {
    return new BanterClient(options);
}
