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
export class RoomStreams {
    constructor(options) {
        this.rooms = new Map();
        this.closed = false;
        this.options = { gapDelayMs: 250, maxFillAttempts: 3, retryDelayMs: 1000, ...options };
    }
    room(roomId) {
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
    position(roomId) {
        return this.rooms.get(roomId)?.position ?? null;
    }
    /** The app has the room up to `seq` (e.g. its history page): later messages continue from
     * there, earlier ones are repeats. Never moves a position back. */
    track(roomId, seq) {
        const room = this.room(roomId);
        if (room.position === null || seq > room.position)
            room.position = seq;
        this.drain(roomId, room);
    }
    /** Forget a room (left it): nothing more is delivered or filled for it until it is seen
     * again. */
    forget(roomId) {
        const room = this.rooms.get(roomId);
        if (room?.timer)
            clearTimeout(room.timer);
        this.rooms.delete(roomId);
    }
    tracked() {
        return [...this.rooms.entries()]
            .filter(([, room]) => room.position !== null)
            .map(([roomId]) => roomId);
    }
    /** A message from the socket or REST: delivered, dropped as a repeat, or held. */
    accept(message, info) {
        if (this.closed)
            return;
        const room = this.room(message.roomId);
        if (room.position === null)
            room.position = message.seq - 1; // first sight sets the base
        if (message.seq <= room.position || room.waiting.has(message.seq))
            return; // a repeat
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
    patch(event, deleted) {
        const held = this.rooms.get(event.roomId)?.waiting.get(event.seq);
        if (!held || held.message.id !== event.messageId)
            return;
        held.message = deleted
            ? { ...held.message, content: "", attachments: [], reactions: [], deletedAt: new Date().toISOString() }
            : {
                ...held.message,
                content: event.content,
                editedAt: event.editedAt,
            };
    }
    /** Page every known room forward over REST (after a reconnect that was not recovered). */
    resyncAll() {
        for (const roomId of this.tracked())
            this.fill(roomId);
    }
    /** Page one room forward over REST from its position. */
    resync(roomId) {
        return this.fill(roomId);
    }
    close() {
        this.closed = true;
        for (const room of this.rooms.values())
            if (room.timer)
                clearTimeout(room.timer);
    }
    drain(roomId, room) {
        if (room.position === null)
            return;
        for (const seq of [...room.waiting.keys()])
            if (seq <= room.position)
                room.waiting.delete(seq);
        for (;;) {
            const next = room.waiting.get(room.position + 1);
            if (!next)
                break;
            room.waiting.delete(room.position + 1);
            room.position += 1;
            this.options.deliver(next.message, next.info);
        }
        if (room.waiting.size === 0 && room.timer) {
            clearTimeout(room.timer);
            room.timer = null;
        }
    }
    scheduleFill(roomId, room, delay) {
        if (room.timer || room.filling)
            return;
        room.timer = setTimeout(() => {
            room.timer = null;
            if (room.waiting.size)
                void this.fill(roomId);
        }, delay);
    }
    async fill(roomId) {
        const room = this.room(roomId);
        if (room.position === null || this.closed)
            return;
        if (room.filling) {
            room.fillAgain = true;
            return;
        }
        room.filling = true;
        let count = 0;
        try {
            for (;;) {
                if (this.closed || this.rooms.get(roomId) !== room)
                    return;
                const after = room.position;
                let page;
                try {
                    page = await this.options.fetchAfter(roomId, after);
                }
                catch {
                    break; // retried below while messages wait
                }
                for (const message of page.results) {
                    if (message.roomId !== roomId)
                        continue;
                    if (room.position !== null && message.seq > room.position + 1) {
                        // The server's answer goes past seqs it does not have (a message row deleted
                        // outright): nothing will ever fill them.
                        this.skipTo(roomId, room, message.seq - 1);
                    }
                    const before = room.position;
                    this.accept(message, { source: "rest" });
                    if (room.position !== before)
                        count += 1;
                }
                if (room.fillAgain) {
                    room.fillAgain = false;
                    continue;
                }
                if (!page.hasMore || page.results.length === 0)
                    break;
            }
        }
        finally {
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
        }
        else {
            this.scheduleFill(roomId, room, this.options.retryDelayMs);
        }
    }
    skipTo(roomId, room, seq) {
        const from = room.position;
        if (seq <= from)
            return;
        room.position = seq;
        this.options.onGap?.(roomId, from, seq);
        this.drain(roomId, room);
    }
}
/** A bounded set of the recovery offsets already seen: a replay repeats the events of the
 * RECOVERY_LOOKBACK before the client's offset; each recorded event has one offset. */
export class SeenOffsets {
    constructor(capacity = 10000) {
        this.capacity = capacity;
        this.seen = new Set();
    }
    /** True the first time an offset is seen. */
    add(offset) {
        if (this.seen.has(offset))
            return false;
        this.seen.add(offset);
        if (this.seen.size > this.capacity) {
            const oldest = this.seen.values().next().value;
            if (oldest !== undefined)
                this.seen.delete(oldest);
        }
        return true;
    }
}
