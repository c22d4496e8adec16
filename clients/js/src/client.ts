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

import { BanterError, clientError, type ErrorBody, type ServerErrorEvent } from "./errors.js";
import { Outbox, type OutboxEntry } from "./outbox.js";
import {
  type ClientEvents,
  type MessageDeletedPayload,
  type MessageEditedPayload,
  type MessagePayload,
  RECOVERABLE_EVENTS,
  SERVER_EVENTS,
  type SendMessage,
  type ServerEvents,
} from "./protocol.js";
import { type FetchLike, RestClient, type Tokens } from "./rest.js";
import { type DeliveryInfo, RoomStreams, SeenOffsets } from "./streams.js";

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
  disconnect: { reason: string; willReconnect: boolean };
  reconnect_attempt: { attempt: number };
  reconnect_failed: Record<string, never>;
  /** The transport was upgraded (polling -> websocket). */
  upgrade: { transport: string };
  /** A connect failed: `willRetry` false when the server refused it (data.code), and the
   * SDK could not fix it by itself (it does for token_expired). */
  connect_error: { code?: string; message: string; willRetry: boolean };
  tokens: Tokens;
  session_expired: BanterError;
  /** Renewing the socket's token on auth:expiring failed. */
  refresh_failed: BanterError;
  /** The server ended the session (logout, deactivation, …): no reconnect. */
  revoked: { reason: string };
  outbox: readonly OutboxEntry[];
  /** Messages a gap fill brought over REST. */
  resync: { roomId: number; count: number };
  /** Seqs the server could not provide were skipped (see RoomStreams). */
  gap: { roomId: number; after: number; resumedAt: number };
}

/** The server's events with the two it has no type for filled in by hand. */
export type ServerEventMap = Omit<ServerEvents, "error" | "call:error"> & {
  error: ServerErrorEvent;
  "call:error": ServerErrorEvent & { error: string };
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

type AckAnswer<T> = { ok: true; data: T } | { ok: false; error: ErrorBody };

const DISCONNECTED = "socket has been disconnected"; // socket.io-client's error for lost acks
// Handled here first (then handed to the app as well).
const HANDLED = new Set<string>(["auth:expiring", "error"]);

export function newClientId(): string {
  const crypto = globalThis.crypto;
  // randomUUID exists only in secure contexts; a plain-http deployment may not be one.
  if (crypto?.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class BanterClient {
  readonly socket: Socket;
  readonly rest: RestClient;
  private readonly listeners = new Map<string, Set<Listener<EventName>>>();
  private readonly outbox: Outbox;
  private readonly streams: RoomStreams;
  private readonly offsets = new SeenOffsets();
  private readonly ackTimeoutMs: number;
  private everConnected = false;
  private revokedReason: string | null = null;
  private closed = false;

  constructor(options: BanterClientOptions) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
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
      auth: (callback: (data: object) => void) => callback({ token: this.rest.accessToken }),
    });
    this.wire();
    if (options.autoConnect ?? true) void this.connect();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** The Engine.IO transport in use ("polling", "websocket"), or null when disconnected. */
  get transport(): string | null {
    return this.socket.connected ? (this.socket.io.engine?.transport?.name ?? null) : null;
  }

  /** Connect (again), renewing an access token that is about to expire first. */
  async connect(): Promise<void> {
    if (this.closed || this.socket.connected || this.socket.active) return;
    const expiry = this.rest.accessExpiry();
    if (expiry && expiry < Date.now() + 5_000) {
      try {
        await this.rest.refreshTokens();
      } catch {
        return; // session_expired (or the network): nothing to connect with
      }
    }
    if (!this.closed && !this.socket.connected && !this.socket.active) this.socket.connect();
  }

  /** Disconnect; the outbox keeps what was not acknowledged until connect(). */
  disconnect(): void {
    this.socket.disconnect();
  }

  /** Disconnect for good: unsent messages are rejected ("closed"), listeners dropped. */
  close(): void {
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
  on<E extends EventName>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<EventName>);
    return () => this.off(event, listener);
  }

  off<E extends EventName>(event: E, listener: Listener<E>): void {
    this.listeners.get(event)?.delete(listener as Listener<EventName>);
  }

  private emitLocal<E extends EventName>(
    event: E,
    payload: EventMap[E],
    info: DeliveryInfo = { source: "socket" },
  ): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        listener(payload, info);
      } catch (error) {
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
  call<E extends keyof ClientEvents>(
    event: E,
    payload: ClientEvents[E]["payload"],
    options: { timeoutMs?: number } = {},
  ): Promise<ClientEvents[E]["ack"]> {
    return this.ack(event, payload, options.timeoutMs);
  }

  /** Emit without an ack (typing-start/stop): a failure comes back as an `error` event. */
  emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]["payload"]): void {
    this.socket.emit(event, payload);
  }

  private ack<E extends keyof ClientEvents>(
    event: E,
    payload: ClientEvents[E]["payload"],
    timeoutMs = this.ackTimeoutMs,
  ): Promise<ClientEvents[E]["ack"]> {
    return new Promise((resolve, reject) => {
      this.socket
        .timeout(timeoutMs)
        .emit(event, payload, (error: Error | null, answer: AckAnswer<ClientEvents[E]["ack"]>) => {
          if (error) {
            reject(
              error.message === DISCONNECTED
                ? clientError("disconnected", "The connection dropped before the answer")
                : clientError("timeout", "No answer from the server"),
            );
          } else if (answer?.ok) {
            resolve(answer.data);
          } else {
            reject(new BanterError(answer?.error ?? { code: "internal_error", message: "Bad ack" }));
          }
        });
    });
  }

  // --- Messages -------------------------------------------------------------------------

  /** Send a message: queued while offline, sent again after a reconnect until acknowledged
   * (same clientId: stored once). Resolves with the stored message; rejects with the
   * server's refusal (not retried: send again with the same clientId to retry). */
  send(roomId: number, content: string | null, options: SendOptions = {}): Promise<MessagePayload> {
    const payload: SendMessage & { clientId: string } = {
      roomId,
      clientId: options.clientId ?? newClientId(),
    };
    if (content !== null && content !== undefined) payload.content = content;
    if (options.messageType) payload.messageType = options.messageType;
    if (options.replyTo !== undefined && options.replyTo !== null) payload.replyTo = options.replyTo;
    if (options.attachments?.length) payload.attachments = options.attachments;
    return this.outbox.send(payload);
  }

  /** Messages not acknowledged yet, in send order. */
  pending(): readonly OutboxEntry[] {
    return this.outbox.pending();
  }

  /** The app has `roomId` up to `seq` (e.g. from its history page): later messages follow
   * from there, gaps after it are filled. */
  trackRoom(roomId: number, seq: number): void {
    this.streams.track(roomId, seq);
  }

  /** Stop following a room (the user left it). */
  forgetRoom(roomId: number): void {
    this.streams.forget(roomId);
  }

  /** The highest seq of a room delivered with nothing missing before it (null: unknown). */
  roomPosition(roomId: number): number | null {
    return this.streams.position(roomId);
  }

  /** Page a room forward over REST from its position (the SDK does this by itself after a
   * reconnect that was not recovered and on a seq gap). */
  resync(roomId: number): Promise<void> {
    return this.streams.resync(roomId);
  }

  // --- Socket wiring --------------------------------------------------------------------

  private wire(): void {
    const socket = this.socket;
    socket.on("connect", () => {
      const reconnect = this.everConnected;
      this.everConnected = true;
      this.revokedReason = null;
      const engine = socket.io.engine;
      engine?.on("upgrade", (transport: { name: string }) =>
        this.emitLocal("upgrade", { transport: transport.name }),
      );
      const recovered = Boolean(socket.recovered);
      this.emitLocal("connect", { recovered, reconnect, transport: engine?.transport?.name ?? "" });
      // Not recovered: what was missed is not replayed, page it over REST.
      if (reconnect && !recovered) this.streams.resyncAll();
      this.outbox.flush();
    });

    socket.on("disconnect", (reason: string) => {
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
        this.rest.refreshTokens().then(
          () => void this.connect(),
          () => {},
        );
        return;
      }
      this.emitLocal("disconnect", { reason, willReconnect: socket.active });
    });

    socket.io.on("reconnect_attempt", (attempt: number) =>
      this.emitLocal("reconnect_attempt", { attempt }),
    );
    socket.io.on("reconnect_failed", () => this.emitLocal("reconnect_failed", {}));

    socket.on("connect_error", (error: Error & { data?: { code?: string } }) => {
      const code = error.data?.code;
      if (socket.active) {
        // A transport error: socket.io-client retries by itself.
        this.emitLocal("connect_error", { code, message: error.message, willRetry: true });
        return;
      }
      // The server refused the CONNECT: socket.io-client does not retry on its own.
      if (code === "token_expired") {
        this.emitLocal("connect_error", { code, message: error.message, willRetry: true });
        this.rest.refreshTokens().then(
          () => void this.connect(),
          () => {},
        );
        return;
      }
      this.emitLocal("connect_error", { code, message: error.message, willRetry: false });
    });

    socket.on("auth:expiring", (payload: ServerEvents["auth:expiring"]) => {
      void this.renewSocketToken();
      this.emitLocal("auth:expiring", payload);
    });

    socket.on("error", (payload: ServerErrorEvent) => {
      const reason = payload?.details?.reason;
      if (payload?.code === "unauthorized" && typeof reason === "string") this.revokedReason = reason;
      this.emitLocal("error", payload as EventMap["error"]);
    });

    const recoverable = new Set<string>(RECOVERABLE_EVENTS);
    for (const name of SERVER_EVENTS) {
      if (HANDLED.has(name)) continue;
      socket.on(name, (...args: unknown[]) => {
        const last = args[args.length - 1];
        const offset = recoverable.has(name) && typeof last === "string" ? last : undefined;
        // A recorded event seen before (the recovery lookback repeats a few): dropped.
        if (offset !== undefined && !this.offsets.add(offset)) return;
        this.onServerEvent(name, args[0], { source: "socket", offset });
      });
    }
  }

  private onServerEvent(name: keyof ServerEvents, payload: unknown, info: DeliveryInfo): void {
    if (name === "message-received") {
      this.streams.accept(payload as MessagePayload, info); // delivered in seq order, once
      return;
    }
    if (name === "message-edited") this.streams.patch(payload as MessageEditedPayload, false);
    if (name === "message-deleted") this.streams.patch(payload as MessageDeletedPayload, true);
    this.emitLocal(name as EventName, payload as EventMap[EventName], info);
  }

  private async renewSocketToken(): Promise<void> {
    try {
      const token = await this.rest.refreshTokens();
      await this.call("auth:refresh", { token });
    } catch (error) {
      this.emitLocal(
        "refresh_failed",
        error instanceof BanterError ? error : clientError("network_error", String(error)),
      );
    }
  }
}

export function createBanterClient(options: BanterClientOptions): BanterClient {
  return new BanterClient(options);
}
