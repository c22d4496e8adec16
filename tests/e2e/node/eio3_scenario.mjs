// Drives Banter with the real socket.io-client 2.x (Engine.IO v3 / Socket.IO v4, the server's
// ALLOW_EIO3): refused tokens, two users connected with a token in the query or in an
// Authorization header, `send-message` with an ack and the broadcast to the other user, then a
// wait longer than the server's pingInterval + pingTimeout that only the client's heartbeat
// survives. Input: one JSON argument; output: one JSON line with what happened.
import io from "socket.io-client-v2";

const cfg = JSON.parse(process.argv[2]);

function opts(token) {
  const options = { transports: cfg.transports, upgrade: cfg.upgrade, reconnection: false,
    timeout: 5000, forceNew: true };
  if (token !== null && cfg.auth === "header") {
    options.extraHeaders = { Authorization: `Bearer ${token}` };
  } else if (token !== null) {
    options.query = { token };
  }
  return options;
}

const withTimeout = (promise, ms, what) => Promise.race([promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))]);

// Socket.IO v4: a refused connect is an ERROR packet, the socket's `error` event.
const connected = (socket) => withTimeout(new Promise((resolve, reject) => {
  socket.once("connect", resolve);
  socket.once("error", (data) => reject(Object.assign(new Error("refused"), { data })));
  socket.once("connect_error", reject);
}), 8000, "connect");

async function refused(token) {
  const socket = io(cfg.url, opts(token));
  try {
    await connected(socket);
    return { connected: true };
  } catch (err) {
    return err.data ?? { transportError: String(err) };
  } finally {
    socket.close();
  }
}

const upgraded = (socket) => socket.io.engine.transport.name === "websocket"
  ? Promise.resolve()
  : withTimeout(new Promise((resolve) => socket.io.engine.once("upgrade", resolve)), 8000,
    "upgrade");

const ack = (socket, event, payload) => withTimeout(
  new Promise((resolve) => socket.emit(event, payload, resolve)), 8000, `${event} ack`);

// Against a server without ALLOW_EIO3: every transport fails (connect_error), nothing else.
async function unsupported() {
  const result = {};
  for (const transport of ["websocket", "polling"]) {
    const socket = io(cfg.url, { ...opts(cfg.tokenA), transports: [transport] });
    try {
      await connected(socket);
      result[transport] = { connected: true };
    } catch (err) {
      result[transport] = { error: String(err.message ?? err), refused: err.data ?? null };
    } finally {
      socket.close();
    }
  }
  return result;
}

async function main() {
  if (cfg.unsupported) {
    console.log(JSON.stringify(await unsupported()));
    process.exit(0);
  }
  const result = { badToken: await refused("not-a-jwt"), noToken: await refused(null) };
  const a = io(cfg.url, opts(cfg.tokenA));
  const b = io(cfg.url, opts(cfg.tokenB));
  const disconnects = [];
  for (const [name, socket] of [["a", a], ["b", b]]) {
    socket.on("disconnect", (reason) => disconnects.push(`${name}: ${reason}`));
  }
  await Promise.all([connected(a), connected(b)]);
  if (cfg.upgrade) await Promise.all([upgraded(a), upgraded(b)]);

  const received = withTimeout(new Promise((resolve) => b.once("message-received", resolve)),
    8000, "message-received");
  result.ack = await ack(a, "send-message",
    { roomId: cfg.roomId, content: cfg.content, clientId: "v2-1" });
  result.received = await received;
  result.transports = [a.io.engine.transport.name, b.io.engine.transport.name];

  // Longer than the server's pingInterval + pingTimeout: only the client's pings keep it.
  await new Promise((resolve) => setTimeout(resolve, cfg.stayMs));
  result.disconnects = [...disconnects];
  result.afterWait = await ack(a, "send-message",
    { roomId: cfg.roomId, content: `${cfg.content} again`, clientId: "v2-2" });
  a.close();
  b.close();
  console.log(JSON.stringify(result));
  process.exit(0);  // pending timeout timers would keep node alive
}

main().catch((err) => { console.error(err); process.exit(1); });
