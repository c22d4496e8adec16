// The Socket.IO Admin UI's side of the /admin namespace, spoken with the official
// socket.io-client exactly as @socket.io/admin-ui's App.vue does (io(url + "/admin", {auth})),
// against Banter. mode "cluster": the admin on instance 1 watches a user's socket on instance
// 2 (connect, rooms, events, upgrade) and disconnects it; refused logins. mode "readonly":
// `_disconnect` is refused. Input: one JSON argument; output: one JSON line.
import { io } from "socket.io-client";

const cfg = JSON.parse(process.argv[2]);
const WAIT = 20000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const withTimeout = (promise, ms, what) => Promise.race([promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))]);

function admin(url, auth, transports = ["websocket"]) {
  // The UI's own options (ui/src/App.vue), but no reconnection in a test.
  return io(url + "/admin", { forceNew: true, reconnection: false, withCredentials: true,
    transports, auth });
}

function connected(socket) {
  return withTimeout(new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  }), WAIT, "connect");
}

async function refusal(url, auth) {
  const socket = admin(url, auth);
  try {
    await connected(socket);
    return { connected: true };
  } catch (err) {
    return { message: err.message, data: err.data ?? null };
  } finally {
    socket.close();
  }
}

// Records every event the UI listens to, and waits for one matching a predicate.
function recorder(socket) {
  const events = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    events.push([event, args]);
    for (const waiter of [...waiters]) {
      if (waiter.event === event && waiter.match(args)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(args);
      }
    }
  });
  const until = (event, match = () => true, ms = WAIT) => {
    const seen = events.find(([name, args]) => name === event && match(args));
    if (seen) return Promise.resolve(seen[1]);
    return withTimeout(new Promise((resolve) => waiters.push({ event, match, resolve })), ms,
      event);
  };
  return { events, until };
}

async function cluster() {
  const result = {
    wrongPassword: await refusal(cfg.url1, { username: cfg.username, password: "wrong" }),
    nonStaffToken: await refusal(cfg.url1, { token: cfg.nonStaffToken }),
    noAuth: await refusal(cfg.url1, {}),
  };
  const staff = admin(cfg.url1, { token: cfg.staffToken });
  await connected(staff);
  result.staffConnected = true;
  staff.close();

  // Polling first, as the UI does without "WebSocket only".
  const ui = admin(cfg.url1, { username: cfg.username, password: cfg.password },
    ["polling", "websocket"]);
  const seen = recorder(ui);
  await connected(ui);
  result.session = typeof (await seen.until("session"))[0];
  result.config = (await seen.until("config"))[0];
  await seen.until("all_sockets");
  const servers = new Set();
  await seen.until("server_stats", ([stats]) => { servers.add(stats.serverId); return servers.size === 2; });
  result.servers = [...servers];
  result.stats = (await seen.until("server_stats"))[0];

  const user = io(cfg.url2, { auth: { token: cfg.userToken }, transports: ["polling", "websocket"],
    reconnection: false, forceNew: true });
  const userDisconnect = new Promise((resolve) => user.once("disconnect", resolve));
  await connected(user);
  const sid = user.id;
  const [socket] = await seen.until("socket_connected", ([s]) => s.id === sid);
  result.socket = socket;
  // Shown on polling, then updated once the client upgraded (unless it was that quick).
  result.upgrade = socket.transport === "polling"
    ? (await seen.until("socket_updated", ([s]) => s.id === sid))[0]
    : { id: sid, nsp: "/", transport: socket.transport };

  result.joinAck = await user.timeout(WAIT).emitWithAck("join-room", cfg.roomId);
  result.received = (await seen.until("event_received",
    ([, id, args]) => id === sid && args[0] === "join-room"));
  result.sendAck = await user.timeout(WAIT).emitWithAck("send-message",
    { roomId: cfg.roomId, content: "seen by the admin", clientId: "admin-ui-1" });
  result.sent = (await seen.until("event_sent",
    ([, id, args]) => id === sid && args[0] === "message-received"));

  // As the UI's "disconnect" button sends it: no ack.
  ui.emit("_disconnect", "/", false, sid);
  result.userDisconnectReason = await withTimeout(userDisconnect, WAIT, "user disconnect");
  result.disconnected = await seen.until("socket_disconnected", ([, id]) => id === sid);
  result.joinRefused = await ui.timeout(WAIT).emitWithAck("join", "/", "room.1", sid);

  const again = admin(cfg.url2, { sessionId: (seen.events.find(([e]) => e === "session"))[1][0] });
  await connected(again);
  result.sessionOnOtherInstance = true;
  again.close();
  ui.close();
  user.close();
  return result;
}

async function readonly() {
  const ui = admin(cfg.url1, { username: cfg.username, password: cfg.password });
  const seen = recorder(ui);
  await connected(ui);
  const result = { config: (await seen.until("config"))[0] };
  const user = io(cfg.url1, { auth: { token: cfg.userToken }, transports: ["websocket"],
    reconnection: false, forceNew: true });
  await connected(user);
  await seen.until("socket_connected", ([s]) => s.id === user.id);
  result.disconnectAck = await ui.timeout(WAIT).emitWithAck("_disconnect", "/", false, user.id);
  ui.emit("_disconnect", "/", true, user.id);
  await sleep(1000);
  result.userStillConnected = user.connected;
  ui.close();
  user.close();
  return result;
}

const run = cfg.mode === "readonly" ? readonly : cluster;
run().then((result) => {
  console.log(JSON.stringify(result));
  process.exit(0); // pending timeout timers would keep node alive
}, (err) => { console.error(err); process.exit(1); });
