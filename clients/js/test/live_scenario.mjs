// The SDK against a live Banter server (driven by tests/e2e/test_js_sdk.py). One JSON
// argument {scenario, url, ...}; prints one JSON line with what happened, for the test to
// check. Scenarios:
//   stream   two users send to each other while their transports drop (one reconnect is
//            recovered, one is made unrecoverable with a forged pid): every message reaches
//            both once, in seq order
//   offline  sends while disconnected, and a send whose ack is lost to a dropped transport:
//            all acknowledged after the reconnect, each stored once
//   refresh  short-lived tokens: auth:expiring -> REST refresh -> auth:refresh keeps the
//            same connection alive past the first token's expiry
//   failover the server under a client dies (kill -9, from the test): the client moves to
//            the other instance and loses nothing
import { io } from "socket.io-client";

import { createBanterClient } from "../dist/index.js";

const cfg = JSON.parse(process.argv[2]);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, predicate, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await sleep(20);
  }
}

/** A client and everything it saw. */
function observed(name, tokens, url = cfg.url, extra = {}) {
  const log = {
    name,
    delivered: [], // message-received as the app sees it
    wire: 0, // message-received frames off the socket, repeats included
    connects: [],
    disconnects: [],
    resyncs: 0,
    gaps: [],
    tokens: 0,
    refreshFailed: [],
    outgoingSends: {}, // clientId -> send-message packets written
  };
  const client = createBanterClient({
    url,
    io,
    token: tokens.access,
    refreshToken: tokens.refresh,
    socketOptions: {
      transports: cfg.transports ?? ["websocket"],
      reconnectionDelay: 300,
      reconnectionDelayMax: 300,
      randomizationFactor: 0,
    },
    ...extra,
  });
  client.on("message-received", (message, info) =>
    log.delivered.push({ id: message.id, seq: message.seq, roomId: message.roomId,
      content: message.content, clientId: message.clientId, source: info.source }));
  client.socket.on("message-received", () => (log.wire += 1));
  client.socket.onAnyOutgoing((event, payload) => {
    if (event === "send-message") log.outgoingSends[payload.clientId] = (log.outgoingSends[payload.clientId] ?? 0) + 1;
  });
  client.on("connect", (info) => log.connects.push(info));
  client.on("disconnect", (info) => log.disconnects.push(info.reason));
  client.on("resync", ({ count }) => (log.resyncs += count));
  client.on("gap", (gap) => log.gaps.push(gap));
  client.on("tokens", () => (log.tokens += 1));
  client.on("refresh_failed", (error) => log.refreshFailed.push(error.message));
  return { client, log };
}

function summary({ client, log }) {
  // A copy: closing the client afterwards logs its own disconnect.
  const copy = JSON.parse(JSON.stringify(log));
  return { ...copy, pending: client.pending().length, position: client.roomPosition(cfg.roomId) };
}

async function stream() {
  const a = observed("a", cfg.alice);
  const b = observed("b", cfg.bob);
  for (const side of [a, b]) {
    side.client.trackRoom(cfg.roomId, 0); // a new room: everything from seq 1 on
    await until("connect", () => side.client.connected);
  }
  const total = 2 * cfg.count;
  const sends = [];
  const sender = async (side, prefix) => {
    for (let n = 1; n <= cfg.count; n++) {
      sends.push(side.client.send(cfg.roomId, `${prefix}${n}`, { clientId: `${prefix}-${n}` }));
      await sleep(cfg.intervalMs);
    }
  };
  const dropper = async () => {
    await sleep(cfg.intervalMs * cfg.count * 0.3);
    a.client.socket.io.engine.close(); // recovered on reconnect
    await sleep(cfg.intervalMs * cfg.count * 0.3);
    b.client.socket._pid = "forged"; // the server cannot recover this one: REST gap fill
    b.client.socket.io.engine.close();
  };
  await Promise.all([sender(a, "a"), sender(b, "b"), dropper()]);
  const acks = await Promise.all(sends);
  for (const side of [a, b]) {
    await until(`${side.log.name} has ${total}`, () => side.client.roomPosition(cfg.roomId) >= total);
  }
  await sleep(500); // a repeat would show up now
  const result = { acked: acks.map((m) => ({ id: m.id, seq: m.seq, clientId: m.clientId })),
    a: summary(a), b: summary(b) };
  a.client.close();
  b.client.close();
  return result;
}

async function offline() {
  const a = observed("a", cfg.alice);
  await until("connect", () => a.client.connected);
  a.client.trackRoom(cfg.roomId, 0);
  // Written while disconnected: queued, nothing goes out.
  a.client.disconnect();
  const queued = [1, 2, 3].map((n) => a.client.send(cfg.roomId, `offline ${n}`, { clientId: `off-${n}` }));
  const whileOffline = { pending: a.client.pending().map((e) => [e.clientId, e.state]),
    written: Object.keys(a.log.outgoingSends).length };
  await a.client.connect();
  const stored = await Promise.all(queued);
  // Sent, then the transport drops before the ack can come back: sent again after the
  // reconnect with the same clientId, stored once.
  const lost = a.client.send(cfg.roomId, "lost ack", { clientId: "lost-ack" });
  a.client.socket.io.engine.close();
  const lostAck = await lost;
  await until("all delivered", () => a.client.roomPosition(cfg.roomId) >= 4);
  await sleep(300);
  const result = { whileOffline, stored: stored.map((m) => [m.seq, m.clientId]),
    lostAck: [lostAck.seq, lostAck.clientId], a: summary(a) };
  a.client.close();
  return result;
}

async function refresh() {
  const a = observed("a", cfg.alice);
  const expiring = [];
  a.client.on("auth:expiring", (event) => expiring.push(event.exp));
  await until("connect", () => a.client.connected);
  const engineId = a.client.socket.io.engine.id;
  const firstToken = a.client.rest.accessToken;
  await sleep(cfg.waitMs); // past the first token's expiry and the server's grace
  const sent = await a.client.send(cfg.roomId, "still here", { clientId: "after-refresh" });
  const result = { expiring, sameEngine: a.client.socket.io.engine.id === engineId,
    connected: a.client.connected, tokenChanged: a.client.rest.accessToken !== firstToken,
    accessToken: a.client.rest.accessToken, sent: [sent.seq, sent.clientId], a: summary(a) };
  a.client.close();
  return result;
}

async function failover() {
  // a on instance 1, b on instance 2; the test kills instance 1 once it reads "ready".
  const a = observed("a", cfg.alice, cfg.urls[0]);
  const b = observed("b", cfg.bob, cfg.urls[1]);
  // A load balancer would send the reconnect elsewhere; the client only knows one URL.
  a.client.on("disconnect", () => (a.client.socket.io.uri = cfg.urls[1]));
  for (const side of [a, b]) {
    side.client.trackRoom(cfg.roomId, 0);
    await until("connect", () => side.client.connected);
  }
  const sends = [];
  let killed = false;
  const sender = async (side, prefix) => {
    for (let n = 1; n <= cfg.count; n++) {
      sends.push(side.client.send(cfg.roomId, `${prefix}${n}`, { clientId: `${prefix}-${n}` }));
      if (n === Math.floor(cfg.count / 3) && side === a && !killed) {
        killed = true;
        console.log("ready"); // the test kills instance 1 now
      }
      await sleep(cfg.intervalMs);
    }
  };
  await Promise.all([sender(a, "a"), sender(b, "b")]);
  const acks = await Promise.all(sends);
  const total = 2 * cfg.count;
  for (const side of [a, b]) {
    await until(`${side.log.name} has ${total}`, () => side.client.roomPosition(cfg.roomId) >= total, 40_000);
  }
  await sleep(500);
  const result = { acked: acks.map((m) => ({ id: m.id, seq: m.seq, clientId: m.clientId })),
    a: summary(a), b: summary(b) };
  a.client.close();
  b.client.close();
  return result;
}

const scenarios = { stream, offline, refresh, failover };
scenarios[cfg.scenario]().then(
  (result) => {
    console.log(JSON.stringify(result));
    process.exit(0);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
