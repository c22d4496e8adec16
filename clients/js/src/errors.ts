/** The error vocabulary shared by acks, `error` events and REST bodies (docs/protocol.md
 * "Acks and errors"), plus the SDK's own transport codes. */

/** `{code, message, details}`: the `error` of a failed ack, a REST error body. */
export interface ErrorBody {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** The server's `error` event: a failed event sent without an ack callback (`event` names
 * it), token expiry, a revoked session (`details.reason`), an abuse disconnect. */
export interface ServerErrorEvent extends ErrorBody {
  event?: string;
}

/** Codes the SDK itself uses, besides the server's: no ack in time; the connection dropped
 * before the ack; the client was closed; the network failed under a REST call. */
export type ClientErrorCode = "timeout" | "disconnected" | "closed" | "network_error";

export class BanterError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;
  /** The HTTP status of a REST error (undefined for socket errors). */
  readonly status?: number;

  constructor(body: ErrorBody, status?: number) {
    super(body.message);
    this.name = "BanterError";
    this.code = body.code;
    this.details = body.details ?? {};
    this.status = status;
  }
}

export function clientError(code: ClientErrorCode, message: string): BanterError {
  return new BanterError({ code, message });
}
