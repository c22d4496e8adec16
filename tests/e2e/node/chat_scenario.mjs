// Drives Banter with the official socket.io-client: the message path, a refused token and an
// unknown event. Input: one JSON argument; output: one JSON line with what happened.
import { io } from "socket.io-client";

const cfg = JSON.parse(process.argv[2]);
const opts = (token) => ({ auth: token ? { token } : undefined, transports: cfg.transports,
  reconnection: false, timeout: 5000, forceNew: true });

const withTimeout = (promise, ms, what) => Promise.race([promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))]);

const connected = (socket) => withTimeout(new Promise((resolve, reject) => {
  socket.once("connect", resolve);
  socket.once("connect_error", reject);
}), 5000, "connect");

async function refused(token) {
  const socket = io(cfg.url, opts(token));
  try {
    await connected(socket);
    return { connected: true };
  } catch (err) {
    return { message: err.message, data: err.data ?? null };
  } finally {
    socket.close();
  }
}

async function main() {
  const result = { badToken: await refused("not-a-jwt"), noToken: await refused(null) };
  const a = io(cfg.url, opts(cfg.tokenA));
  const b = io(cfg.url, opts(cfg.tokenB));
  await Promise.all([connected(a), connected(b)]);
  const received = withTimeout(new Promise((resolve) => b.once("message-received", resolve)),
    5000, "message-received");
  result.ack = await a.timeout(5000).emitWithAck("send-message",
    { roomId: cfg.roomId, content: cfg.content, clientId: "node-1" });
  result.received = await received;
  result.unknown = await a.timeout(5000).emitWithAck("no-such-event", {});
  result.transport = a.io.engine.transport.name;
  a.close();
  b.close();
  console.log(JSON.stringify(result));
  process.exit(0);  // pending timeout timers would keep node alive
}

main().catch((err) => { console.error(err); process.exit(1); });
