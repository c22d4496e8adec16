// A stand-in for socket.io-client's `io` in the SDK's unit tests: records what is emitted,
// lets a test answer acks, deliver server events, connect and drop the connection.

class Emitter {
  constructor() {
    this.handlers = new Map();
  }
  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
    return this;
  }
  off(event, handler) {
    this.handlers.set(event, (this.handlers.get(event) || []).filter((h) => h !== handler));
    return this;
  }
  removeAllListeners() {
    this.handlers.clear();
    return this;
  }
  fire(event, ...args) {
    for (const handler of [...(this.handlers.get(event) || [])]) handler(...args);
  }
}

export class FakeSocket extends Emitter {
  constructor(uri, options) {
    super();
    this.uri = uri;
    this.options = options;
    this.connected = false;
    this.active = false;
    this.recovered = false;
    this.sent = []; // {event, payload, ack, timeout}
    this.io = new Emitter();
    this.io.engine = Object.assign(new Emitter(), { transport: { name: "websocket" } });
    this.connectCalls = 0;
  }
  connect() {
    this.connectCalls += 1;
    this.active = true;
    return this;
  }
  disconnect() {
    this.active = false;
    if (this.connected) this.drop("io client disconnect");
    return this;
  }
  timeout(ms) {
    return {
      emit: (event, payload, ack) => {
        const entry = { event, payload, ack, timeout: ms, answered: false };
        this.sent.push(entry);
        entry.timer = setTimeout(() => this.answerError(entry, new Error("operation has timed out")), ms);
      },
    };
  }
  emit(event, payload) {
    this.sent.push({ event, payload, ack: null, answered: true });
  }

  // --- test controls ---
  authData() {
    let data;
    this.options.auth((value) => (data = value));
    return data;
  }
  open({ recovered = false } = {}) {
    this.connected = true;
    this.active = true;
    this.recovered = recovered;
    this.fire("connect");
  }
  drop(reason = "transport close") {
    this.connected = false;
    this.fire("disconnect", reason);
    for (const entry of this.sent) {
      if (!entry.answered) this.answerError(entry, new Error("socket has been disconnected"));
    }
  }
  server(event, ...args) {
    this.fire(event, ...args);
  }
  answer(entry, answer) {
    if (entry.answered) return;
    entry.answered = true;
    clearTimeout(entry.timer);
    entry.ack(null, answer);
  }
  answerError(entry, error) {
    if (entry.answered) return;
    entry.answered = true;
    clearTimeout(entry.timer);
    entry.ack(error);
  }
  unanswered(event) {
    return this.sent.filter((entry) => entry.event === event && !entry.answered);
  }
}

export function fakeIo() {
  const sockets = [];
  const io = (uri, options) => {
    const socket = new FakeSocket(uri, options);
    sockets.push(socket);
    return socket;
  };
  io.sockets = sockets;
  return io;
}

/** A fetch that answers from a handler: (method, path, body) -> {status, body}. */
export function fakeFetch(handler) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const path = url.replace(/^https?:\/\/[^/]+/, "");
    const body = init.body ? JSON.parse(init.body) : undefined;
    calls.push({ method: init.method, path, body, headers: init.headers });
    const answer = await handler(init.method, path, body, init.headers);
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status ?? 200,
      headers: { "Content-Type": "application/json" },
    });
  };
  fetch.calls = calls;
  return fetch;
}

export function message(roomId, seq, extra = {}) {
  return {
    id: roomId * 10000 + seq,
    roomId,
    seq,
    content: `m${seq}`,
    messageType: "text",
    clientId: null,
    replyTo: null,
    createdAt: "2026-01-01T00:00:00.000Z",
    editedAt: null,
    deletedAt: null,
    user: { id: 1, username: "a", displayName: "a", avatarUrl: null },
    reactions: [],
    attachments: [],
    ...extra,
  };
}

export const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** A JWT-shaped token (unsigned) expiring at `exp` (seconds). */
export function token(exp, id = "x") {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "HS256" })}.${part({ exp, id })}.sig`;
}
