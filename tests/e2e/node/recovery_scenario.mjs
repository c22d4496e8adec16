// Connection state recovery with the official socket.io-client, unchanged: bob's transport
// drops, alice sends `count` messages meanwhile, bob's client reconnects by itself (to
// `bobUrlAfter`, another instance when the test says so) with its pid and last offset.
// Input: one JSON argument; output: one JSON line with what bob saw.
import { io } from "socket.io-client";

const cfg = JSON.parse(process.argv[2]);
const timeout = (ms, what) => new Promise((_, reject) =>
  setTimeout(() => reject(new Error(`timeout: ${what}`)), ms));
const next = (socket, event) => Promise.race([
  new Promise((resolve) => socket.once(event, resolve)), timeout(10000, event)]);

async function main() {
  // A fixed, long enough reconnection delay: the messages are all sent while bob is away.
  const bob = io(cfg.bobUrl, { auth: { token: cfg.tokenB }, transports: cfg.transports,
    reconnectionDelay: 2000, reconnectionDelayMax: 2000, randomizationFactor: 0 });
  const got = [];
  bob.on("message-received", (message, offset) =>
    got.push({ seq: message.seq, content: message.content, offset }));
  await next(bob, "connect");
  const firstPid = bob._pid;

  const alice = io(cfg.aliceUrl, { auth: { token: cfg.tokenA }, transports: ["websocket"],
    reconnection: false });
  await next(alice, "connect");
  const warmup = await alice.emitWithAck("send-message", { roomId: cfg.roomId, content: "warm" });
  while (got.length < 1) await new Promise((r) => setTimeout(r, 20));

  // A load balancer would send the reconnect elsewhere; the client only knows one URL.
  bob.io.uri = cfg.bobUrlAfter;
  const reconnected = next(bob, "connect");
  bob.io.engine.close(); // the transport drops: socket.io-client reconnects by itself
  const acks = [];
  for (let i = 1; i <= cfg.count; i++) {
    acks.push(await alice.emitWithAck("send-message",
      { roomId: cfg.roomId, content: `m${i}`, clientId: `node-${i}` }));
  }
  await reconnected;
  const deadline = Date.now() + 5000;
  while (got.length < cfg.count + 1 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 300)); // anything extra (a duplicate) shows up too
  console.log(JSON.stringify({ recovered: bob.recovered, samePid: bob._pid === firstPid,
    warmupOk: warmup.ok, acksOk: acks.every((a) => a.ok), got }));
  bob.close();
  alice.close();
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1); });
