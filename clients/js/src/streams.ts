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

interface Room {
  position: number | null; // null: nothing known yet (the first message sets it)
  waiting: Map<number, { message: MessagePayload; info: DeliveryInfo }>;
  timer: ReturnType<typeof setTimeout> | null;
  filling: boolean;
  fillAgain: boolean;
  stalls: number; // fills in a row that moved nothing while messages waited
}

export class RoomStreams {
  private readonly rooms = new Map<number, Room>();
  private readonly options: Required<Omit<StreamsOptions, "onGap" | "onFilled">> &
    Pick<StreamsOptions, "onGap" | "onFilled">;
  private closed = false;

  constructor(options: StreamsOptions) {
    this.options = { gapDelayMs: 250, maxFillAttempts: 3, retryDelayMs: 1_000, ...options };
  }

  private room(roomId: number): Room {
    let room = this.rooms.get(roomId);
    if (!room) {
      room = {
        position: null,
        waiting: new Map(),
        timer: null,
        filling: false,
        fillAgain: false,
        stalls: 0,
      };
      this.rooms.set(roomId, room);
    }
    return room;
  }

  /** The highest seq of `roomId` up to which everything was delivered (null: unknown). */
  position(roomId: number): number | null {
    return this.rooms.get(roomId)?.position ?? null;
  }

  /** The app has the room up to `seq` (e.g. its history page): later messages continue from
   * there, earlier ones are repeats. Never moves a position back. */
  track(roomId: number, seq: number): void {
    const room = this.room(roomId);
    if (room.position === null || seq > room.position) room.position = seq;
    this.drain(roomId, room);
  }

  /** Forget a room (left it): nothing more is delivered or filled for it until it is seen
   * again. */
  forget(roomId: number): void {
    const room = this.rooms.get(roomId);
    if (room?.timer) clearTimeout(room.timer);
    this.rooms.delete(roomId);
  }

  tracked(): number[] {
    return [...this.rooms.entries()]
      .filter(([, room]) => room.position !== null)
      .map(([roomId]) => roomId);
  }

  /** A message from the socket or REST: delivered, dropped as a repeat, or held. */
  accept(message: MessagePayload, info: DeliveryInfo): void {
    if (this.closed) return;
    const room = this.room(message.roomId);
    if (room.position === null) room.position = message.seq - 1; // first sight sets the base
    if (message.seq <= room.position || room.waiting.has(message.seq)) return; // a repeat
    if (message.seq === room.position + 1) {
      room.position = message.seq;
      this.options.deliver(message, info);
      this.drain(message.roomId, room);
      return;
    }
    room.waiting.set(message.seq, { message, info });
    this.scheduleFill(message.roomId, room, this.options.gapDelayMs);
  }

  /** An edit or delete of a message still waiting for its gap: it is delivered as it is
   * now, like REST and the recovery replay show it. */
  patch(event: MessageEditedPayload | MessageDeletedPayload, deleted: boolean): void {
    const held = this.rooms.get(event.roomId)?.waiting.get(event.seq);
    if (!held || held.message.id !== event.messageId) return;
    held.message = deleted
      ? { ...held.message, content: "", attachments: [], reactions: [], deletedAt: new Date().toISOString() }
      : {
          ...held.message,
          content: (event as MessageEditedPayload).content,
          editedAt: (event as MessageEditedPayload).editedAt,
        };
  }

  /** Page every known room forward over REST (after a reconnect that was not recovered). */
  resyncAll(): void {
    for (const roomId of this.tracked()) this.fill(roomId);
  }

  /** Page one room forward over REST from its position. */
  resync(roomId: number): Promise<void> {
    return this.fill(roomId);
  }

  close(): void {
    this.closed = true;
    for (const room of this.rooms.values()) if (room.timer) clearTimeout(room.timer);
  }

  private drain(roomId: number, room: Room): void {
    if (room.position === null) return;
    for (const seq of [...room.waiting.keys()]) if (seq <= room.position) room.waiting.delete(seq);
    for (;;) {
      const next = room.waiting.get(room.position + 1);
      if (!next) break;
      room.waiting.delete(room.position + 1);
      room.position += 1;
      this.options.deliver(next.message, next.info);
    }
    if (room.waiting.size === 0 && room.timer) {
      clearTimeout(room.timer);
      room.timer = null;
    }
  }

  private scheduleFill(roomId: number, room: Room, delay: number): void {
    if (room.timer || room.filling) return;
    room.timer = setTimeout(() => {
      room.timer = null;
      if (room.waiting.size) void this.fill(roomId);
    }, delay);
  }

  private async fill(roomId: number): Promise<void> {
    const room = this.room(roomId);
    if (room.position === null || this.closed) return;
    if (room.filling) {
      room.fillAgain = true;
      return;
    }
    room.filling = true;
    let count = 0;
    try {
      for (;;) {
        if (this.closed || this.rooms.get(roomId) !== room) return;
        const after = room.position as number;
        let page: HistoryPageLike;
        try {
          page = await this.options.fetchAfter(roomId, after);
        } catch {
          break; // retried below while messages wait
        }
        for (const message of page.results) {
          if (message.roomId !== roomId) continue;
          if (room.position !== null && message.seq > room.position + 1) {
            // The server's answer goes past seqs it does not have (a message row deleted
            // outright): nothing will ever fill them.
            this.skipTo(roomId, room, message.seq - 1);
          }
          const before: number | null = room.position;
          this.accept(message, { source: "rest" });
          if (room.position !== before) count += 1;
        }
        if (room.fillAgain) {
          room.fillAgain = false;
          continue;
        }
        if (!page.hasMore || page.results.length === 0) break;
      }
    } finally {
      room.filling = false;
    }
    this.options.onFilled?.(roomId, count);
    if (!room.waiting.size) {
      room.stalls = 0;
      return;
    }
    // Messages still wait beyond what the server's answer reached: the missing ones may be
    // on their way (published by a slower instance), or REST failed. Try again a few times
    // before delivery moves on past the hole.
    room.stalls = count > 0 ? 0 : room.stalls + 1;
    if (room.stalls >= this.options.maxFillAttempts) {
      room.stalls = 0;
      this.skipTo(roomId, room, Math.min(...room.waiting.keys()) - 1);
    } else {
      this.scheduleFill(roomId, room, this.options.retryDelayMs);
    }
  }

  private skipTo(roomId: number, room: Room, seq: number): void {
    const from = room.position as number;
    if (seq <= from) return;
    room.position = seq;
    this.options.onGap?.(roomId, from, seq);
    this.drain(roomId, room);
  }
}

/** A bounded set of the recovery offsets already seen: a replay repeats the events of the
 * RECOVERY_LOOKBACK before the client's offset; each recorded event has one offset. */
export class SeenOffsets {
  private readonly seen = new Set<string>();
  constructor(private readonly capacity = 10_000) {}

  /** True the first time an offset is seen. */
  add(offset: string): boolean {
    if (this.seen.has(offset)) return false;
    this.seen.add(offset);
    if (this.seen.size > this.capacity) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return true;
  }
}
