// The SDK's logic without a server (node --test): a fake socket.io-client and a fake fetch.
// The same behaviours against a live server: tests/e2e/test_js_sdk.py (sdk_scenario.mjs).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createBanterClient, RoomStreams, BanterError } from "../dist/index.js";
import { fakeFetch, fakeIo, message, tick, token } from "./fake_io.mjs";

const URL = "http://banter.test";
const future = () => Math.floor(Date.now() / 1000) + 3600;

function setup({ fetchHandler, ...options } = {}) {
  const io = fakeIo();
  const fetch = fakeFetch(
    fetchHandler ?? (async () => ({ body: { results: [], hasMore: false, nextAfter: null } })),
  );
  const client = createBanterClient({
    url: URL,
    io,
    fetch,
    token: token(future()),
    refreshToken: "r1",
    gapDelayMs: 10,
    ...options,
  });
  return { client, socket: io.sockets[0], fetch };
}

function received(client) {
  const got = [];
  client.on("message-received", (m, info) => got.push({ seq: m.seq, id: m.id, source: info.source, content: m.content }));
  return got;
}

describe("RoomStreams", () => {
  it("delivers in seq order once, holding a later seq until the gap is filled over REST", async () => {
    const delivered = [];
    const asked = [];
    const streams = new RoomStreams({
      deliver: (m, info) => delivered.push([m.seq, info.source]),
      fetchAfter: async (roomId, after) => {
        asked.push(after);
        return { results: [message(1, 3), message(1, 4)], hasMore: false };
      },
      gapDelayMs: 5,
    });
    streams.track(1, 2);
    streams.accept(message(1, 2), { source: "socket" }); // below the position: a repeat
    streams.accept(message(1, 5), { source: "socket" }); // 3 and 4 missing: held
    streams.accept(message(1, 5), { source: "socket" }); // held already
    assert.deepEqual(delivered, []);
    await tick(30);
    assert.deepEqual(asked, [2]);
    assert.deepEqual(delivered, [[3, "rest"], [4, "rest"], [5, "socket"]]);
    streams.accept(message(1, 4), { source: "socket" });
    assert.equal(streams.position(1), 5);
    assert.equal(delivered.length, 3);
  });

  it("skips a hole the server cannot fill, after retrying", async () => {
    const gaps = [];
    const delivered = [];
    const streams = new RoomStreams({
      deliver: (m) => delivered.push(m.seq),
      fetchAfter: async () => ({ results: [], hasMore: false }),
      onGap: (roomId, after, resumedAt) => gaps.push([roomId, after, resumedAt]),
      gapDelayMs: 1,
      retryDelayMs: 1,
      maxFillAttempts: 2,
    });
    streams.track(7, 1);
    streams.accept(message(7, 4), { source: "socket" });
    await tick(40);
    assert.deepEqual(gaps, [[7, 1, 3]]);
    assert.deepEqual(delivered, [4]);
  });

  it("shows a held message as edited or deleted since", async () => {
    const delivered = [];
    let release;
    const streams = new RoomStreams({
      deliver: (m) => delivered.push(m),
      fetchAfter: () => new Promise((resolve) => (release = resolve)),
      gapDelayMs: 1,
    });
    streams.track(1, 0);
    const held = message(1, 2);
    streams.accept(held, { source: "socket" });
    streams.patch({ messageId: held.id, roomId: 1, content: "edited", editedAt: "t", seq: 2 }, false);
    await tick(10);
    release({ results: [message(1, 1)], hasMore: false });
    await tick(10);
    assert.deepEqual(delivered.map((m) => [m.seq, m.content]), [[1, "m1"], [2, "edited"]]);
  });
});

describe("BanterClient", () => {
  it("sends the current token and types acks into data or BanterError", async () => {
    const { client, socket } = setup();
    assert.equal(socket.authData().token, client.rest.accessToken);
    socket.open();
    const joined = client.call("join-room", { roomId: 3 });
    socket.answer(socket.sent[0], { ok: true, data: { roomId: 3 } });
    assert.deepEqual(await joined, { roomId: 3 });
    const refused = client.call("join-room", { roomId: 4 });
    socket.answer(socket.sent[1], { ok: false, error: { code: "forbidden", message: "no", details: {} } });
    await assert.rejects(refused, (error) => error instanceof BanterError && error.code === "forbidden");
    client.close();
  });

  it("queues sends while offline and sends them in order on connect", async () => {
    const { client, socket } = setup();
    const first = client.send(1, "one", { clientId: "c1" });
    const second = client.send(1, "two", { clientId: "c2" });
    assert.equal(socket.sent.length, 0);
    assert.deepEqual(client.pending().map((e) => [e.clientId, e.state]), [["c1", "queued"], ["c2", "queued"]]);
    socket.open();
    assert.deepEqual(socket.sent.map((e) => e.payload.clientId), ["c1", "c2"]);
    socket.answer(socket.sent[0], { ok: true, data: message(1, 1, { clientId: "c1" }) });
    socket.answer(socket.sent[1], { ok: true, data: message(1, 2, { clientId: "c2" }) });
    assert.equal((await first).seq, 1);
    assert.equal((await second).seq, 2);
    assert.equal(client.pending().length, 0);
    client.close();
  });

  it("sends again with the same clientId when the connection drops before the ack", async () => {
    const { client, socket } = setup();
    socket.open();
    const sent = client.send(1, "hello", { clientId: "same" });
    assert.equal(socket.sent.length, 1);
    socket.drop();
    await tick();
    assert.equal(client.pending()[0].state, "queued");
    socket.open();
    assert.equal(socket.sent.length, 2);
    assert.equal(socket.sent[1].payload.clientId, "same");
    socket.answer(socket.sent[1], { ok: true, data: message(1, 1, { clientId: "same" }) });
    assert.equal((await sent).clientId, "same");
    // A second send() of a clientId still pending returns the same promise, no copy.
    const again = client.send(1, "x", { clientId: "other" });
    assert.equal(client.send(1, "x", { clientId: "other" }), again);
    client.close();
    await assert.rejects(again, (error) => error.code === "closed");
  });

  it("does not retry a refusal, and retries a lost ack a few times", async () => {
    const { client, socket } = setup({ ackTimeoutMs: 20, sendAttempts: 2 });
    socket.open();
    const limited = client.send(1, "a", { clientId: "a" });
    socket.answer(socket.sent[0], { ok: false, error: { code: "rate_limited", message: "slow down", details: { retryAfter: 1 } } });
    await assert.rejects(limited, (error) => error.code === "rate_limited");
    const lost = assert.rejects(client.send(1, "b", { clientId: "b" }), (error) => error.code === "timeout");
    await tick(70);
    assert.equal(socket.sent.filter((e) => e.payload.clientId === "b").length, 2);
    await lost;
    client.close();
  });

  it("drops repeated recovery offsets and repeated messages; fills gaps over REST", async () => {
    const { client, socket, fetch } = setup({
      fetchHandler: async (method, path) => {
        assert.match(path, /^\/api\/rooms\/5\/messages\?after=2&limit=100$/);
        return { body: { results: [message(5, 3)], hasMore: false, nextAfter: null } };
      },
    });
    const got = received(client);
    const edits = [];
    client.on("message-edited", (event) => edits.push(event.content));
    socket.open();
    socket.server("message-received", message(5, 1), "101");
    socket.server("message-received", message(5, 2), "102");
    socket.server("message-received", message(5, 2), "102"); // the lookback repeats it
    socket.server("message-received", message(5, 1), "150"); // same message, new offset
    socket.server("message-edited", { messageId: 1, roomId: 5, content: "e", editedAt: "t", seq: 1 }, "103");
    socket.server("message-edited", { messageId: 1, roomId: 5, content: "e", editedAt: "t", seq: 1 }, "103");
    socket.server("message-received", message(5, 4), "110"); // 3 missing
    await tick(40);
    assert.deepEqual(got.map((m) => [m.seq, m.source]), [[1, "socket"], [2, "socket"], [3, "rest"], [4, "socket"]]);
    assert.deepEqual(edits, ["e"]);
    assert.equal(fetch.calls.length, 1);
    client.close();
  });

  it("resyncs known rooms over REST after a reconnect that was not recovered", async () => {
    const { client, socket, fetch } = setup({
      fetchHandler: async (method, path) =>
        path.startsWith("/api/rooms/9/")
          ? { body: { results: [message(9, 8), message(9, 9)], hasMore: false, nextAfter: null } }
          : { status: 404, body: { code: "not_found", message: "no", details: {} } },
    });
    const got = received(client);
    socket.open();
    client.trackRoom(9, 7);
    socket.drop();
    socket.open({ recovered: true });
    await tick(10);
    assert.equal(fetch.calls.length, 0); // recovered: the server replays
    socket.drop();
    socket.open({ recovered: false });
    await tick(10);
    assert.deepEqual(fetch.calls.map((c) => c.path), ["/api/rooms/9/messages?after=7&limit=100"]);
    assert.deepEqual(got.map((m) => m.seq), [8, 9]);
    client.close();
  });

  it("renews the token on auth:expiring: REST refresh, then auth:refresh", async () => {
    const fresh = token(future() + 60, "fresh");
    const tokens = [];
    const { client, socket, fetch } = setup({
      fetchHandler: async (method, path, body) => {
        assert.equal(path, "/api/auth/token/refresh");
        assert.deepEqual(body, { refresh: "r1" });
        return { body: { access: fresh, refresh: "r2" } };
      },
      onTokens: (pair) => tokens.push(pair),
    });
    socket.open();
    socket.server("auth:expiring", { exp: 1 });
    await tick(10);
    const refresh = socket.sent.find((e) => e.event === "auth:refresh");
    assert.deepEqual(refresh.payload, { token: fresh });
    socket.answer(refresh, { ok: true, data: { exp: 2 } });
    assert.deepEqual(tokens, [{ access: fresh, refresh: "r2" }]);
    assert.equal(socket.authData().token, fresh); // a reconnect sends the new one
    assert.equal(fetch.calls.length, 1);
    client.close();
  });

  it("refreshes and reconnects after a token_expired refusal; stops when revoked", async () => {
    const fresh = token(future(), "fresh");
    const { client, socket } = setup({
      fetchHandler: async () => ({ body: { access: fresh, refresh: "r2" } }),
    });
    const revoked = [];
    client.on("revoked", (event) => revoked.push(event.reason));
    await tick();
    assert.equal(socket.connectCalls, 1);
    socket.active = false;
    socket.fire("connect_error", Object.assign(new Error("Token is expired"), { data: { code: "token_expired" } }));
    await tick(10);
    assert.equal(socket.connectCalls, 2);
    socket.open();
    socket.server("error", { code: "unauthorized", message: "Session revoked", details: { reason: "logout" } });
    socket.active = false;
    socket.drop("io server disconnect");
    await tick(10);
    assert.deepEqual(revoked, ["logout"]);
    assert.equal(socket.connectCalls, 2);
    client.close();
  });
});
