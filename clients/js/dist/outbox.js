/** The send queue: messages go out in the order they were written, and each one is sent
 * again (with its clientId, so the server stores it once: docs/guarantees.md 2) until the
 * server acknowledges it or refuses it.
 *
 * Written while offline: queued, sent on connect. Sent, and the connection dropped before
 * the ack: sent again after the reconnect (the server answers a known clientId with the
 * stored message). No ack in time while connected: sent again, `maxAttempts` times in all.
 * Refused by the server (validation, rate limit, …): rejected with its error, not retried. */
import { BanterError, clientError } from "./errors.js";
export class Outbox {
    constructor(options) {
        this.options = options;
        this.entries = new Map(); // insertion order = send order
        this.maxAttempts = options.maxAttempts ?? 3;
    }
    /** Queue a message; sent at once when connected. The same clientId again while it is
     * still queued returns the same promise (no second copy). */
    send(payload) {
        const known = this.entries.get(payload.clientId);
        if (known)
            return known.promise;
        let resolve;
        let reject;
        const promise = new Promise((ok, fail) => {
            resolve = ok;
            reject = fail;
        });
        const entry = {
            clientId: payload.clientId,
            payload,
            state: "queued",
            attempts: 0,
            promise,
            resolve,
            reject,
            generation: 0,
        };
        this.entries.set(entry.clientId, entry);
        this.changed();
        if (this.options.connected())
            this.transmit(entry);
        return promise;
    }
    /** What is not acknowledged yet, in send order. */
    pending() {
        return [...this.entries.values()];
    }
    /** Connected: send everything that waits, in order. */
    flush() {
        for (const entry of this.entries.values())
            if (entry.state === "queued")
                this.transmit(entry);
    }
    /** Disconnected: whatever was on its way goes again after the reconnect. */
    requeue() {
        for (const entry of this.entries.values()) {
            entry.state = "queued";
            entry.generation += 1;
        }
        this.changed();
    }
    /** Give up on everything (the client was closed). */
    close(error = clientError("closed", "The client was closed")) {
        const entries = [...this.entries.values()];
        this.entries.clear();
        for (const entry of entries)
            entry.reject(error);
        this.changed();
    }
    transmit(entry) {
        entry.state = "sending";
        entry.attempts += 1;
        const generation = ++entry.generation;
        this.changed();
        this.options.emit(entry.payload).then((message) => this.settle(entry, () => entry.resolve(message)), (error) => {
            if (entry.generation !== generation || !this.entries.has(entry.clientId))
                return;
            if (error.code === "disconnected") {
                entry.state = "queued"; // sent again on connect
                this.changed();
                if (this.options.connected())
                    this.transmit(entry);
            }
            else if (error.code === "timeout" && entry.attempts < this.maxAttempts) {
                entry.state = "queued";
                if (this.options.connected())
                    this.transmit(entry);
                else
                    this.changed();
            }
            else {
                this.settle(entry, () => entry.reject(error));
            }
        });
    }
    settle(entry, finish) {
        // After a timeout both the first send and the resend may be answered (with the same
        // stored message): the first answer settles it.
        if (!this.entries.has(entry.clientId))
            return;
        this.entries.delete(entry.clientId);
        finish();
        this.changed();
    }
    changed() {
        this.options.onChange?.(this.pending());
    }
}
