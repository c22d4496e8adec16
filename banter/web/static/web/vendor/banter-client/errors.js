/** The error vocabulary shared by acks, `error` events and REST bodies (docs/protocol.md
 * "Acks and errors"), plus the SDK's own transport codes. */
export class BanterError extends Error {
    constructor(body, status) {
        super(body.message);
        this.name = "BanterError";
        this.code = body.code;
        this.details = body.details ?? {};
        this.status = status;
    }
}
export function clientError(code, message) {
    return new BanterError({ code, message });
}
