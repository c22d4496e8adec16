// Compile-time checks of the SDK's types (tsc --noEmit, run by tests/clients/test_js_sdk.py):
// each @ts-expect-error line must fail to type-check, everything else must pass.
import { io } from "socket.io-client";

import { createBanterClient, type MessagePayload, type RoomJoinedPayload } from "../src/index.js";

const client = createBanterClient({ url: "http://localhost:8000", io, token: "t" });

async function checks(): Promise<void> {
  const joined: RoomJoinedPayload = await client.call("join-room", { roomId: 1 });
  const sent: MessagePayload = await client.send(1, "hi", { clientId: "c" });
  const page = await client.rest.api("get", "/api/rooms/{room_id}/messages", {
    path: { room_id: 1 },
    query: { after: sent.seq },
  });
  const seqs: number[] = page.results.map((message) => message.seq);
  client.on("message-received", (message, info) => {
    const seq: number = message.seq;
    const source: "socket" | "rest" = info.source;
    void seq;
    void source;
  });
  client.on("user-typing", (event) => void event.displayName);
  client.on("error", (error) => void error.code);
  client.on("connect", ({ recovered }) => void recovered);
  // @ts-expect-error: join-room takes {roomId}
  await client.call("join-room", { room: 1 });
  // @ts-expect-error: no such event
  await client.call("join-rooms", { roomId: 1 });
  // @ts-expect-error: the ack of mark-read has no `room`
  void (await client.call("mark-read", { roomId: 1, messageId: 2 })).room;
  // @ts-expect-error: room_id is required
  await client.rest.api("get", "/api/rooms/{room_id}/messages", {});
  // @ts-expect-error: message-edited carries no `user`
  client.on("message-edited", (event) => void event.user);
  void joined;
  void seqs;
}

void checks;
