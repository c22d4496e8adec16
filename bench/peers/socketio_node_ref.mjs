// The Node.js reference peer of `make bench`: a plain socket.io 4.8 server with Banter's bench
// events (bench/run.py starts it as the server kinds "node", "node-pg" and "node-redis").
//
// Not part of the product. It is what a team would write with socket.io in an afternoon: one
// process, no cluster, no auth check, no limits, so the comparison is generous to it. Same
// transport settings as Banter: heartbeat pingInterval 25 s / pingTimeout 20 s, any CORS
// origin, no permessage-deflate. The load generator (bench/loadgen.mjs) drives it exactly as
// it drives Banter and bench/peers/socketio_ref.py:
//
// * the CONNECT auth carries `roomId` (and `token`): the socket enters `room:<roomId>`; its
//   user is the token's last 8 characters (as in socketio_ref.py);
// * `bench:send {roomId, text, sentAt}` -> `bench:message {roomId, userId, text, sentAt}` to the
//   whole room, sender included, then the ack `{ok: true, data: {}}` (Banter's shape);
// * with a PostgreSQL URL (--database-url or DATABASE_URL), also `send-message {roomId,
//   content, clientId, messageType?}`: ONE `INSERT ... RETURNING id, created_at` into its own
//   table node_ref_messages (a pg.Pool of 10), then `message-received` with Banter's message
//   shape to the room, sender included, then the ack `{ok: true, data: <message>}`. Unlike
//   Banter it does no membership read, no clientId dedupe, and its per-room `seq` is a counter
//   in this process's memory (not stored): again generous to it;
// * with a Redis URL (--redis-url or REDIS_URL), the @socket.io/redis-adapter: every room
//   broadcast is published to Redis for the other processes (and this process reads its own
//   publications back and drops them); the adapter delivers to this process's own sockets
//   directly, as socket.io always does.
//
//   node bench/peers/socketio_node_ref.mjs --port 3000 [--database-url URL] [--redis-url URL]

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values: options } = parseArgs({
  options: {
    port: { type: "string", default: process.env.PORT || "3000" },
    host: { type: "string", default: process.env.HOST || "127.0.0.1" },
    "database-url": { type: "string", default: process.env.DATABASE_URL || "" },
    "redis-url": { type: "string", default: process.env.REDIS_URL || "" },
    "pool-size": { type: "string", default: process.env.PG_POOL_SIZE || "10" },
  },
});

const httpServer = createServer();
const io = new Server(httpServer, {
  pingInterval: 25000,
  pingTimeout: 20000,
  cors: { origin: "*" },
  perMessageDeflate: false,
  serveClient: false,
});

// -- Redis adapter (node-redis) ---------------------------------------------------------

const closers = [];
if (options["redis-url"]) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = createClient({ url: options["redis-url"] });
  const sub = pub.duplicate();
  for (const client of [pub, sub]) client.on("error", (err) => console.error("redis:", err.message));
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, { key: `banter-node-ref-${process.pid}` }));
  closers.push(() => Promise.allSettled([pub.quit(), sub.quit()]));
}

// -- PostgreSQL (node-pg) ---------------------------------------------------------------

let pool = null;
if (options["database-url"]) {
  const { default: pg } = await import("pg");
  pool = new pg.Pool({ connectionString: options["database-url"], max: Number(options["pool-size"]) });
  pool.on("error", (err) => console.error("pg pool:", err.message));
  await pool.query(
    "CREATE TABLE IF NOT EXISTS node_ref_messages(id bigserial primary key, room_id int, " +
      "sender text, content text, client_id text, created_at timestamptz default now())",
  );
  closers.push(() => pool.end());
}

const INSERT =
  "INSERT INTO node_ref_messages(room_id, sender, content, client_id) VALUES ($1, $2, $3, $4) " +
  "RETURNING id, created_at";
const seqs = new Map(); // roomId -> last seq handed out (this process only)

function fail(ack, code, message) {
  if (typeof ack === "function") ack({ ok: false, error: { code, message } });
}

// -- events -----------------------------------------------------------------------------

io.on("connection", (socket) => {
  const auth = socket.handshake.auth || {};
  const user = String(auth.token ?? "").slice(-8);
  const room = auth.roomId;
  socket.data.user = user;
  if (room !== undefined && room !== null) socket.join(`room:${room}`);

  socket.on("bench:send", (payload, ack) => {
    const roomId = payload?.roomId;
    io.to(`room:${roomId}`).emit("bench:message", {
      roomId,
      userId: user,
      text: payload?.text,
      sentAt: payload?.sentAt,
    });
    if (typeof ack === "function") ack({ ok: true, data: {} });
  });

  if (!pool) return;
  socket.on("send-message", async (payload, ack) => {
    const roomId = payload?.roomId;
    const content = payload?.content;
    const clientId = payload?.clientId ?? null;
    const messageType = payload?.messageType ?? "text";
    if (!Number.isInteger(roomId) || typeof content !== "string" || content.trim() === "") {
      fail(ack, "validation_error", "roomId (integer) and content (text) are required");
      return;
    }
    if (!socket.rooms.has(`room:${roomId}`)) {
      fail(ack, "forbidden", "not a member of this room");
      return;
    }
    let row;
    try {
      ({ rows: [row] } = await pool.query(INSERT, [roomId, user, content, clientId]));
    } catch (err) {
      console.error("insert:", err.message);
      fail(ack, "internal_error", "could not store the message");
      return;
    }
    const seq = (seqs.get(roomId) || 0) + 1;
    seqs.set(roomId, seq);
    const message = {
      id: Number(row.id),
      roomId,
      seq,
      content,
      messageType,
      clientId,
      replyTo: null,
      createdAt: row.created_at.toISOString(),
      editedAt: null,
      deletedAt: null,
      user: { id: user, username: user, displayName: user, avatarUrl: null },
    };
    io.to(`room:${roomId}`).emit("message-received", message);
    if (typeof ack === "function") ack({ ok: true, data: message });
  });
});

// -- lifecycle --------------------------------------------------------------------------

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 3000).unref();
    io.close();
    await Promise.allSettled(closers.map((close) => close()));
    process.exit(0);
  });
}

// Listening last: bench/run.py takes an open port for "ready", so the table and the Redis
// connections exist by then.
httpServer.listen(Number(options.port), options.host, () => {
  const modes = [pool && "pg", options["redis-url"] && "redis"].filter(Boolean);
  console.log(
    `socket.io ${options.host}:${options.port} (${modes.join("+") || "nodb"}), node ${process.version}`,
  );
});
