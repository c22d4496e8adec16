/** Banter's JavaScript client SDK: see README.md ("JavaScript client SDK") and
 * clients/js/README.md. */
export { BanterClient, createBanterClient, newClientId, } from "./client.js";
export { BanterError, } from "./errors.js";
export { Outbox } from "./outbox.js";
export * from "./protocol.js";
export { RestClient, createRestClient, } from "./rest.js";
export { RoomStreams, SeenOffsets } from "./streams.js";
