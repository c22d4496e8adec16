// The load generator of `make bench` (bench/run.py starts it; it is not run by hand).
//
// One Node.js process with many official socket.io-client connections, pinned by run.py to a
// core of its own. It reads a JSON config (argv[2]), runs one scenario, prints progress to
// stderr once a second and one JSON result on stdout. Every timestamp comes from this
// process's monotonic clock (performance.now()): a message carries its send time in its text,
// so a delivery latency needs no clock shared with the server.
//
// Scenarios:
//   idle      connect `clients`, hold `hold` seconds; count heartbeat pings and measure how
//             late each ping arrives against pingInterval; `probes` sockets send an acked
//             `sendEvent` every 200 ms (an application round trip under that many connections).
//   chat      every socket in its room (`clients[i].room`); `rate` messages/s in total from the
//             sockets in turn, each acked; every member (sender included) must get each
//             message once: delivery latency, ack latency, loss, duplicates.
//   typing    `rate` typing-start/s (then typing-stop) from the sockets in turn; latency until
//             each other room member hears `user-typing`.
//   presence  after a settle, one socket per room closes; latency until the other members
//             hear `user-offline` (includes the server's PRESENCE_OFFLINE_GRACE).
//
// Clients (`config.client`): "lean" (default) speaks Engine.IO v4 / Socket.IO v5 over a bare
// `ws` WebSocket, just what the scenarios use (CONNECT with auth, events, acks, pong); one Node
// core then receives several times more deliveries a second than with "sio", the official
// socket.io-client, which run.py can still select (--client sio) to show the servers serve
// it unchanged.
//
// The generator reports its own CPU use: a generator near 100% of its core is the bottleneck,
// and run.py flags such a run instead of blaming the server.

import { readFileSync } from "node:fs";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { io } from "socket.io-client";
import WebSocket from "ws";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const RUN_ID = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
const now = () => performance.now();

const clients = config.clients; // [{token, room, user}]
const sockets = new Array(clients.length);
const result = {
  scenario: config.scenario,
  clients: clients.length,
  connected: 0,
  connectErrors: 0,
  unexpectedDisconnects: 0,
  errors: {},
};
const progress = { phase: "connect", sent: 0, acked: 0, delivered: 0 };

function countError(code) {
  result.errors[code] = (result.errors[code] || 0) + 1;
}

// -- latency samples --------------------------------------------------------------------

class Samples {
  constructor() {
    this.values = new Float64Array(1 << 16);
    this.length = 0;
    this.bySecond = []; // [second] -> [values...] for the timeline plot
  }
  add(value, second) {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
    if (second !== undefined) (this.bySecond[second] ||= []).push(value);
  }
  summary() {
    if (this.length === 0) return { count: 0 };
    const sorted = this.values.slice(0, this.length).sort();
    const at = (q) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: sorted.length,
      mean: round(sum / sorted.length),
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      p999: at(0.999),
      max: round(sorted[sorted.length - 1]),
    };
  }
  timeline() {
    return this.bySecond.map((values, second) => {
      if (!values || values.length === 0) return { second, count: 0 };
      values.sort((a, b) => a - b);
      const at = (q) => round(values[Math.min(values.length - 1, Math.floor(q * values.length))]);
      return { second, count: values.length, p50: at(0.5), p99: at(0.99), max: at(1) };
    });
  }
}

const round = (v) => Math.round(v * 1000) / 1000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// -- the lean client -------------------------------------------------------------------

// The subset of socket.io-client's Socket API the scenarios use.
class LeanSocket {
  constructor(url, auth) {
    this.auth = auth;
    this.connected = false;
    this.handlers = new Map();
    this.acks = new Map();
    this.nextAck = 0;
    this.pingHandlers = [];
    this.io = { engine: { on: (event, fn) => event === "ping" && this.pingHandlers.push(fn) } };
    const target = new URL(url);
    this.ws = new WebSocket(`ws://${target.host}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate: false,
    });
    this.ws.on("message", (data, isBinary) => {
      if (!isBinary) this.onFrame(data.toString());
    });
    this.ws.on("close", () => this.gone("transport close"));
    this.ws.on("error", (err) => this.gone(`transport error: ${err.message}`));
  }

  // The frame itself, unparsed, for a hot event (the chat deliveries): the generator finds the
  // message's text in it without JSON.parse, so a core can take more deliveries a second.
  onRaw(event, fn) {
    this.rawPrefix = `42["${event}",`;
    this.rawHandler = fn;
  }

  on(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(fn);
  }

  fire(event, ...args) {
    for (const fn of this.handlers.get(event) || []) fn(...args);
  }

  gone(reason) {
    if (this.ended) return; // "error" and "close" both come; one report
    this.ended = true;
    if (this.connected) {
      this.connected = false;
      this.fire("disconnect", reason);
    } else this.fire("connect_error", new Error(reason));
  }

  onFrame(frame) {
    const type = frame.charCodeAt(0);
    if (type === 52 /* 4 message */) {
      const packet = frame.charCodeAt(1);
      if (packet === 50 /* 2 event */) {
        if (this.rawHandler && frame.startsWith(this.rawPrefix)) {
          this.rawHandler(frame);
          return;
        }
        const args = JSON.parse(frame.slice(frame.indexOf("[")));
        this.fire(args[0], ...args.slice(1));
      } else if (packet === 51 /* 3 ack */) {
        const open = frame.indexOf("[");
        const id = Number(frame.slice(2, open));
        const pending = this.acks.get(id);
        if (pending) {
          this.acks.delete(id);
          clearTimeout(pending.timer);
          pending.fn(null, ...JSON.parse(frame.slice(open)));
        }
      } else if (packet === 48 /* 0 connect */) {
        this.connected = true;
        this.fire("connect");
      } else if (packet === 52 /* 4 connect_error */) {
        this.ended = true;
        this.fire("connect_error", new Error(JSON.parse(frame.slice(2)).message));
        this.ws.close();
      } else if (packet === 49 /* 1 disconnect */) {
        this.gone("io server disconnect");
        this.ws.close();
      }
    } else if (type === 50 /* 2 ping */) {
      this.ws.send("3");
      for (const fn of this.pingHandlers) fn();
    } else if (type === 48 /* 0 open */) {
      this.ws.send("40" + JSON.stringify(this.auth));
    }
  }

  timeout(ms) {
    return { emit: (event, payload, fn) => this.emitWithAck(event, payload, fn, ms) };
  }

  emit(event, payload) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send("42" + JSON.stringify([event, payload]));
  }

  emitWithAck(event, payload, fn, ms) {
    if (this.ws.readyState !== WebSocket.OPEN) {
      fn(new Error("not connected"));
      return;
    }
    const id = this.nextAck++;
    const timer = setTimeout(() => {
      this.acks.delete(id);
      fn(new Error("operation has timed out"));
    }, ms);
    this.acks.set(id, { fn, timer });
    this.ws.send("42" + id + JSON.stringify([event, payload]));
  }

  disconnect() {
    this.ended = true;
    this.connected = false;
    this.ws.close();
  }
}

// -- connecting -------------------------------------------------------------------------

// Handshake start to the CONNECT reply, per socket (a reconnect storm's tail is here).
const connectLatency = new Samples();

// A refused handshake (503 while the server sheds a storm, or any transport error before
// the CONNECT) is retried as socket.io-client's Manager does by default: after 1 s doubling
// to at most 5 s, each delay +-50%, for up to 60 s. Latency counts from the first attempt.
const RETRY_FOR_MS = 60000;

function retryDelay(attempt) {
  const base = Math.min(1000 * 2 ** attempt, 5000);
  return base * (0.5 + Math.random());
}

async function connectOne(index) {
  const startedAt = now();
  for (let attempt = 0; ; attempt++) {
    const outcome = await connectAttempt(index, startedAt);
    if (outcome !== "retry") return outcome;
    if (now() - startedAt > RETRY_FOR_MS) {
      result.connectErrors++;
      countError("connect:gave up retrying");
      return false;
    }
    result.connectRetries = (result.connectRetries || 0) + 1;
    await sleep(retryDelay(attempt));
  }
}

function connectAttempt(index, startedAt) {
  const client = clients[index];
  return new Promise((resolve) => {
    const url = client.url || config.url;
    const auth = { token: client.token, roomId: client.room };
    const socket =
      config.client === "sio"
        ? io(url, {
            transports: ["websocket"],
            auth,
            reconnection: false,
            forceNew: true,
            timeout: 30000,
          })
        : new LeanSocket(url, auth);
    sockets[index] = socket;
    let settled = false;
    socket.on("connect", () => {
      if (settled) return;
      settled = true;
      result.connected++;
      connectLatency.add(now() - startedAt);
      resolve(true);
    });
    socket.on("connect_error", (err) => {
      if (settled) return;
      settled = true;
      if (err.message.startsWith("transport")) {
        resolve("retry");
        return;
      }
      result.connectErrors++;
      countError(`connect:${err.message}`);
      resolve(false);
    });
    socket.on("disconnect", (reason) => {
      if (!socket.benchClosing) {
        result.unexpectedDisconnects++;
        countError(`disconnect:${reason}`);
      }
    });
  });
}

async function connectAll() {
  const started = now();
  const perSecond = config.connectRate || 500;
  const batch = Math.max(1, Math.round(perSecond / 20)); // 20 batches a second
  const pending = [];
  for (let i = 0; i < clients.length; i += batch) {
    for (let j = i; j < Math.min(i + batch, clients.length); j++) pending.push(connectOne(j));
    const due = started + ((i + batch) / perSecond) * 1000;
    const wait = due - now();
    if (wait > 0) await sleep(wait);
  }
  await Promise.all(pending);
  result.connectSeconds = round((now() - started) / 1000);
  result.connectLatency = connectLatency.summary();
}

// -- scenarios --------------------------------------------------------------------------

function roomMembers() {
  const members = new Map(); // room -> [index]
  clients.forEach((client, index) => {
    if (!sockets[index]?.connected) return;
    if (!members.has(client.room)) members.set(client.room, []);
    members.get(client.room).push(index);
  });
  return members;
}

function messageText(sender, n, sentAt) {
  // Padded to the configured size so every server carries the same bytes.
  const text = `b|${sender}|${n}|${sentAt}|`;
  return config.messageSize > text.length ? text + "x".repeat(config.messageSize - text.length) : text;
}

function sendPayload(index, text) {
  const room = clients[index].room;
  if (config.sendEvent === "send-message") {
    // Unique across runs: a clientId the room already has is a retry to the server, which
    // answers with the stored message and broadcasts nothing (docs/protocol.md).
    return { roomId: room, content: text, clientId: `b${RUN_ID}-${index}-${result.sentSeq++}` };
  }
  return { roomId: room, text, sentAt: 0 };
}

function messageTextOf(payload) {
  if (!payload || typeof payload !== "object") return null;
  return typeof payload.text === "string" ? payload.text : payload.content;
}

async function runChat() {
  const members = roomMembers();
  const delivery = new Samples();
  const ack = new Samples();
  const seen = sockets.map(() => new Set());
  let expected = 0;
  let delivered = 0;
  let duplicates = 0;
  let lastDelivery = now();
  let sendNumber = 0;
  result.sentSeq = 0;
  const measureFrom = now() + (config.warmup || 0) * 1000;
  const origin = now();

  sockets.forEach((socket, index) => {
    if (!socket?.connected) return;
    const take = (text) => {
      const parts = text.split("|", 4);
      const key = Number(parts[1]) * 1e7 + Number(parts[2]);
      const sentAt = Number(parts[3]);
      const t = now();
      lastDelivery = t;
      if (seen[index].has(key)) {
        duplicates++;
        return;
      }
      seen[index].add(key);
      delivered++;
      progress.delivered++;
      if (sentAt >= measureFrom) delivery.add(t - sentAt, Math.floor((t - origin) / 1000));
    };
    if (socket.onRaw) {
      socket.onRaw(config.receiveEvent, (frame) => {
        const at = frame.indexOf('"b|');
        if (at >= 0) take(frame.slice(at + 1, frame.indexOf("|", frame.indexOf("|", frame.indexOf("|", at + 3) + 1) + 1)));
      });
    } else {
      socket.on(config.receiveEvent, (payload) => {
        const text = messageTextOf(payload);
        if (typeof text === "string" && text.startsWith("b|")) take(text);
      });
    }
  });

  const senders = [...members.values()].flat();
  const duration = config.duration * 1000;
  const rate = config.rate;
  let sent = 0;
  let acked = 0;
  let ackFailures = 0;
  const start = now();
  const cpuStart = process.cpuUsage();
  const eluStart = performance.eventLoopUtilization();
  progress.phase = "chat";

  const sendOne = () => {
    const index = senders[sendNumber % senders.length];
    sendNumber++;
    const socket = sockets[index];
    if (!socket.connected) {
      sent++; // owed by the schedule all the same; counted, never expected
      countError("send:disconnected");
      return;
    }
    const sentAt = now();
    const text = messageText(index, sendNumber, sentAt);
    const roomSize = members.get(clients[index].room).length;
    sent++;
    progress.sent++;
    socket.timeout(10000).emit(config.sendEvent, sendPayload(index, text), (err, response) => {
      if (err || !response || response.ok === false) {
        ackFailures++;
        countError(err ? "ack:timeout" : `ack:${response?.error?.code ?? "bad"}`);
        return;
      }
      acked++;
      progress.acked++;
      expected += roomSize;
      if (sentAt >= measureFrom) ack.add(now() - sentAt);
    });
  };

  // A fixed-rate schedule, caught up every 5 ms: a late tick sends what it owes.
  while (now() - start < duration) {
    const due = Math.floor(((now() - start) / 1000) * rate);
    while (sent < due) sendOne();
    await sleep(5);
  }
  const sendSeconds = (now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const elu = performance.eventLoopUtilization(eluStart);
  progress.phase = "drain";
  // Drain: until every acked message is delivered, or 3 s pass without a delivery (max 15 s).
  const drainStart = now();
  while (now() - drainStart < 15000) {
    if (acked + ackFailures >= sent && delivered >= expected) break;
    if (now() - lastDelivery > 3000 && acked + ackFailures >= sent) break;
    await sleep(50);
  }
  Object.assign(result, {
    rate,
    roomSize: round(senders.length / members.size),
    sendSeconds: round(sendSeconds),
    sent,
    acked,
    ackFailures,
    expectedDeliveries: expected,
    delivered,
    lost: Math.max(0, expected - delivered),
    duplicates,
    deliveriesPerSecond: round(delivered / sendSeconds),
    delivery: delivery.summary(),
    ack: ack.summary(),
    timeline: delivery.timeline(),
    generatorCpu: round((cpu.user + cpu.system) / 1000 / (sendSeconds * 1000)),
    generatorLoopUtilization: round(elu.utilization),
  });
}

async function runIdle() {
  const pingLateness = new Samples();
  const probeRtt = new Samples();
  let pings = 0;
  const interval = config.pingInterval * 1000;
  const holdStart = now();
  sockets.forEach((socket) => {
    if (!socket?.connected) return;
    let last = null;
    socket.io.engine.on("ping", () => {
      const t = now();
      pings++;
      // The first ping of a socket opened during the ramp has no predecessor to compare with.
      if (last !== null && t > holdStart) pingLateness.add(Math.abs(t - last - interval));
      last = t;
    });
  });
  progress.phase = "hold";
  // The generator's own event-loop stalls (its garbage collector with thousands of sockets)
  // delay what it sees too: reported, so a late ping is not blamed on the server.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const probes = sockets.slice(0, config.probes || 0).filter((s) => s?.connected);
  const cpuStart = process.cpuUsage();
  const end = holdStart + config.hold * 1000;
  while (now() < end) {
    for (const [index, socket] of probes.entries()) {
      const sentAt = now();
      const payload = sendPayload(index, messageText(index, 0, sentAt));
      socket.timeout(10000).emit(config.sendEvent, payload, (err) => {
        if (err) countError("probe:timeout");
        else probeRtt.add(now() - sentAt);
      });
    }
    await sleep(200);
  }
  const cpu = process.cpuUsage(cpuStart);
  Object.assign(result, {
    hold: config.hold,
    pings,
    stillConnected: sockets.filter((s) => s?.connected).length,
    pingLateness: pingLateness.summary(),
    probeRtt: probeRtt.summary(),
    generatorLoopDelay: {
      p50: round(loopDelay.percentile(50) / 1e6),
      p99: round(loopDelay.percentile(99) / 1e6),
      max: round(loopDelay.max / 1e6),
    },
    generatorCpu: round((cpu.user + cpu.system) / 1000 / (config.hold * 1000)),
  });
}

async function runTyping() {
  const members = roomMembers();
  const latency = new Samples();
  const startedAt = new Map(); // `${room}:${user}` -> time of the typing-start
  const heard = new Map(); // same key -> receivers so far
  let expected = 0;
  let received = 0;
  sockets.forEach((socket) => {
    socket?.on("user-typing", (payload) => {
      const key = `${payload.roomId}:${payload.userId}`;
      const t0 = startedAt.get(key);
      if (t0 === undefined) return;
      received++;
      latency.add(now() - t0);
      heard.set(key, (heard.get(key) || 0) + 1);
    });
  });
  const senders = [...members.values()].flat();
  const start = now();
  let sent = 0;
  progress.phase = "typing";
  const cpuStart = process.cpuUsage();
  while (now() - start < config.duration * 1000) {
    const due = Math.floor(((now() - start) / 1000) * config.rate);
    while (sent < due) {
      const index = senders[sent % senders.length];
      sent++;
      progress.sent++;
      const client = clients[index];
      const key = `${client.room}:${client.user}`;
      const socket = sockets[index];
      // Not typing (stopped after the previous round): this start is broadcast at once.
      startedAt.set(key, now());
      expected += members.get(client.room).length - 1;
      socket.timeout(10000).emit("typing-start", { roomId: client.room }, (err, response) => {
        if (err || response?.ok === false) countError(err ? "ack:timeout" : response.error.code);
        setTimeout(() => socket.emit("typing-stop", { roomId: client.room }), 300);
      });
    }
    await sleep(5);
  }
  const cpu = process.cpuUsage(cpuStart);
  await sleep(2000);
  Object.assign(result, {
    rate: config.rate,
    sent,
    expectedDeliveries: expected,
    delivered: received,
    lost: Math.max(0, expected - received),
    typing: latency.summary(),
    generatorCpu: round((cpu.user + cpu.system) / 1000 / (config.duration * 1000)),
  });
}

async function runPresence() {
  const members = roomMembers();
  const latency = new Samples();
  const closedAt = new Map(); // user -> time its socket closed
  let expected = 0;
  let received = 0;
  sockets.forEach((socket) => {
    socket?.on("user-offline", (payload) => {
      const t0 = closedAt.get(payload.userId);
      if (t0 === undefined) return;
      received++;
      latency.add(now() - t0);
    });
  });
  progress.phase = "presence";
  const leavers = [...members.values()].slice(0, config.leavers || 100).map((m) => m[0]);
  for (const index of leavers) {
    const socket = sockets[index];
    socket.benchClosing = true;
    closedAt.set(clients[index].user, now());
    expected += members.get(clients[index].room).length - 1;
    socket.disconnect();
    await sleep(config.leaveSpacing || 20);
  }
  const deadline = now() + (config.grace + 10) * 1000;
  while (received < expected && now() < deadline) await sleep(100);
  Object.assign(result, {
    leavers: leavers.length,
    expectedDeliveries: expected,
    delivered: received,
    lost: Math.max(0, expected - received),
    offline: latency.summary(),
    grace: config.grace,
  });
}

// -- main -------------------------------------------------------------------------------

const ticker = setInterval(() => {
  const line = [
    `[loadgen ${config.label || config.scenario}] ${progress.phase}`,
    `connected ${result.connected}/${clients.length}`,
    progress.sent ? `sent ${progress.sent} acked ${progress.acked}` : "",
    progress.delivered ? `delivered ${progress.delivered}` : "",
  ];
  process.stderr.write(line.filter(Boolean).join("  ") + "\n");
}, 1000);

try {
  await connectAll();
  if (config.settle) await sleep(config.settle * 1000);
  if (config.scenario === "chat") await runChat();
  else if (config.scenario === "idle") await runIdle();
  else if (config.scenario === "typing") await runTyping();
  else if (config.scenario === "presence") await runPresence();
  else throw new Error(`unknown scenario ${config.scenario}`);
} finally {
  clearInterval(ticker);
  for (const socket of sockets) {
    if (socket) {
      socket.benchClosing = true;
      socket.disconnect();
    }
  }
}
delete result.sentSeq;
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
