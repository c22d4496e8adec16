/** The send queue: messages go out in the order they were written, and each one is sent
 * again (with its clientId, so the server stores it once: docs/guarantees.md 2) until the
 * server acknowledges it or refuses it.
 *
 * Written while offline: queued, sent on connect. Sent, and the connection dropped before
 * the ack: sent again after the reconnect (the server answers a known clientId with the
 * stored message). No ack in time while connected: sent again, `maxAttempts` times in all.
 * Refused by the server (validation, rate limit, …): rejected with its error, not retried. */

import { BanterError, clientError } from "./errors.js";
import type { MessagePayload, SendMessage } from "./protocol.js";

export type SendState = "queued" | "sending";

export interface OutboxEntry {
  readonly clientId: string;
  readonly payload: SendMessage;
  state: SendState;
  attempts: number;
  readonly promise: Promise<MessagePayload>;
}

interface Entry extends OutboxEntry {
  resolve: (message: MessagePayload) => void;
  reject: (error: BanterError) => void;
  generation: number; // bumped on every (re)send: answers to an older one are ignored
}

export interface OutboxOptions {
  /** Emit send-message with an ack; rejects with BanterError ("timeout", "disconnected", or
   * the server's code). */
  emit: (payload: SendMessage) => Promise<MessagePayload>;
  connected: () => boolean;
  maxAttempts?: number;
  onChange?: (entries: readonly OutboxEntry[]) => void;
}

export class Outbox {
  private readonly entries = new Map<string, Entry>(); // insertion order = send order
  private readonly maxAttempts: number;

  constructor(private readonly options: OutboxOptions) {
    this.maxAttempts = options.maxAttempts ?? 3;
  }

  /** Queue a message; sent at once when connected. The same clientId again while it is
   * still queued returns the same promise (no second copy). */
  send(payload: SendMessage & { clientId: string }): Promise<MessagePayload> {
    const known = this.entries.get(payload.clientId);
    if (known) return known.promise;
    let resolve!: (message: MessagePayload) => void;
    let reject!: (error: BanterError) => void;
    const promise = new Promise<MessagePayload>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    const entry: Entry = {
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
    if (this.options.connected()) this.transmit(entry);
    return promise;
  }

  /** What is not acknowledged yet, in send order. */
  pending(): readonly OutboxEntry[] {
    return [...this.entries.values()];
  }

  /** Connected: send everything that waits, in order. */
  flush(): void {
    for (const entry of this.entries.values()) if (entry.state === "queued") this.transmit(entry);
  }

  /** Disconnected: whatever was on its way goes again after the reconnect. */
  requeue(): void {
    for (const entry of this.entries.values()) {
      entry.state = "queued";
      entry.generation += 1;
    }
    this.changed();
  }

  /** Give up on everything (the client was closed). */
  close(error: BanterError = clientError("closed", "The client was closed")): void {
    const entries = [...this.entries.values()];
    this.entries.clear();
    for (const entry of entries) entry.reject(error);
    this.changed();
  }

  private transmit(entry: Entry): void {
    entry.state = "sending";
    entry.attempts += 1;
    const generation = ++entry.generation;
    this.changed();
    this.options.emit(entry.payload).then(
      (message) => this.settle(entry, () => entry.resolve(message)),
      (error: BanterError) => {
        if (entry.generation !== generation || !this.entries.has(entry.clientId)) return;
        if (error.code === "disconnected") {
          entry.state = "queued"; // sent again on connect
          this.changed();
          if (this.options.connected()) this.transmit(entry);
        } else if (error.code === "timeout" && entry.attempts < this.maxAttempts) {
          entry.state = "queued";
          if (this.options.connected()) this.transmit(entry);
          else this.changed();
        } else {
          this.settle(entry, () => entry.reject(error));
        }
      },
    );
  }

  private settle(entry: Entry, finish: () => void): void {
    // After a timeout both the first send and the resend may be answered (with the same
    // stored message): the first answer settles it.
    if (!this.entries.has(entry.clientId)) return;
    this.entries.delete(entry.clientId);
    finish();
    this.changed();
  }

  private changed(): void {
    this.options.onChange?.(this.pending());
  }
}
