/** The send queue: messages go out in the order they were written, and each one is sent
 * again (with its clientId, so the server stores it once: docs/guarantees.md 2) until the
 * server acknowledges it or refuses it.
 *
 * Written while offline: queued, sent on connect. Sent, and the connection dropped before
 * the ack: sent again after the reconnect (the server answers a known clientId with the
 * stored message). No ack in time while connected: sent again, `maxAttempts` times in all.
 * Refused by the server (validation, rate limit, …): rejected with its error, not retried. */
import { BanterError } from "./errors.js";
import type { MessagePayload, SendMessage } from "./protocol.js";
export type SendState = "queued" | "sending";
export interface OutboxEntry {
    readonly clientId: string;
    readonly payload: SendMessage;
    state: SendState;
    attempts: number;
    readonly promise: Promise<MessagePayload>;
}
export interface OutboxOptions {
    /** Emit send-message with an ack; rejects with BanterError ("timeout", "disconnected", or
     * the server's code). */
    emit: (payload: SendMessage) => Promise<MessagePayload>;
    connected: () => boolean;
    maxAttempts?: number;
    onChange?: (entries: readonly OutboxEntry[]) => void;
}
export declare class Outbox {
    private readonly options;
    private readonly entries;
    private readonly maxAttempts;
    constructor(options: OutboxOptions);
    /** Queue a message; sent at once when connected. The same clientId again while it is
     * still queued returns the same promise (no second copy). */
    send(payload: SendMessage & {
        clientId: string;
    }): Promise<MessagePayload>;
    /** What is not acknowledged yet, in send order. */
    pending(): readonly OutboxEntry[];
    /** Connected: send everything that waits, in order. */
    flush(): void;
    /** Disconnected: whatever was on its way goes again after the reconnect. */
    requeue(): void;
    /** Give up on everything (the client was closed). */
    close(error?: BanterError): void;
    private transmit;
    private settle;
    private changed;
}
