/** Banter's JavaScript client SDK: see README.md ("JavaScript client SDK") and
 * clients/js/README.md. */

export {
  BanterClient,
  createBanterClient,
  newClientId,
  type BanterClientOptions,
  type ConnectInfo,
  type EventMap,
  type EventName,
  type IoFactory,
  type IoOptions,
  type LifecycleEvents,
  type Listener,
  type SendOptions,
  type ServerEventMap,
} from "./client.js";
export {
  BanterError,
  type ClientErrorCode,
  type ErrorBody,
  type ServerErrorEvent,
} from "./errors.js";
export { Outbox, type OutboxEntry, type SendState } from "./outbox.js";
export * from "./protocol.js";
export type { components, operations, paths } from "./openapi.js";
export {
  RestClient,
  createRestClient,
  type Answer,
  type AuthResponse,
  type FetchLike,
  type HistoryPage,
  type RestMessage,
  type RestOptions,
  type RestRoom,
  type Schemas,
  type Tokens,
} from "./rest.js";
export { RoomStreams, SeenOffsets, type DeliveryInfo, type MessageSource } from "./streams.js";
