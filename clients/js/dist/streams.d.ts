/** Per-room message streams: every message handed to the app once, in seq order, with gaps
 * filled over REST.
 *
 * Messages reach a client three ways (docs/guarantees.md): live, replayed by connection
 * state recovery (which repeats a few events from before the client's offset), and paged
 * over REST (`GET /api/rooms/{id}/messages?after=<seq>`). Each room's seqs are 1, 2, 3, …
 * without gaps, so one number per room says what the app has: `position`, the highest seq
 * up to which every message was delivered. A message at or below it is a repeat (dropped);
 * the next one is delivered; a later one waits while the gap is filled over REST, then the
 * waiting ones follow in order. */
import type { MessageDeletedPayload, MessageEditedPayload, MessagePayload } from "./protocol.js";
export type MessageSource = "socket" | "rest";
export interface DeliveryInfo {
    source: MessageSource;
    /** The recovery offset the server sent with it (socket deliveries). */
    offset?: string;
}
export interface HistoryPageLike {
    results: MessagePayload[];
    hasMore: boolean;
    nextAfter?: number | null;
}
export interface StreamsOptions {
    /** Hand a message to the app (exactly once per (room, seq), in seq order). */
    deliver: (message: MessagePayload, info: DeliveryInfo) => void;
    /** One page of the room's history after `after` (REST). */
    fetchAfter: (roomId: number, after: number) => Promise<HistoryPageLike>;
    /** A gap could not be filled (`maxFillAttempts` fills in a row brought nothing, or the
     * server has no such seqs: a message row deleted outright); delivery resumed after it. */
    onGap?: (roomId: number, after: number, resumedAt: number) => void;
    /** A fill finished: `count` messages came over REST. */
    onFilled?: (roomId: number, count: number) => void;
    /** How long a later seq waits before the gap is filled (the server's sequencer itself
     * waits 200 ms for a missing seq before it reads it from its log). */
    gapDelayMs?: number;
    maxFillAttempts?: number;
    retryDelayMs?: number;
}
export declare class RoomStreams {
    private readonly rooms;
    private readonly options;
    private closed;
    constructor(options: StreamsOptions);
    private room;
    /** The highest seq of `roomId` up to which everything was delivered (null: unknown). */
    position(roomId: number): number | null;
    /** The app has the room up to `seq` (e.g. its history page): later messages continue from
     * there, earlier ones are repeats. Never moves a position back. */
    track(roomId: number, seq: number): void;
    /** Forget a room (left it): nothing more is delivered or filled for it until it is seen
     * again. */
    forget(roomId: number): void;
    tracked(): number[];
    /** A message from the socket or REST: delivered, dropped as a repeat, or held. */
    accept(message: MessagePayload, info: DeliveryInfo): void;
    /** An edit or delete of a message still waiting for its gap: it is delivered as it is
     * now, like REST and the recovery replay show it. */
    patch(event: MessageEditedPayload | MessageDeletedPayload, deleted: boolean): void;
    /** Page every known room forward over REST (after a reconnect that was not recovered). */
    resyncAll(): void;
    /** Page one room forward over REST from its position. */
    resync(roomId: number): Promise<void>;
    close(): void;
    private drain;
    private scheduleFill;
    private fill;
    private skipTo;
}
/** A bounded set of the recovery offsets already seen: a replay repeats the events of the
 * RECOVERY_LOOKBACK before the client's offset; each recorded event has one offset. */
export declare class SeenOffsets {
    private readonly capacity;
    private readonly seen;
    constructor(capacity?: number);
    /** True the first time an offset is seen. */
    add(offset: string): boolean;
}
