// Banter web chat: a small demo client of the REST API (docs/api.md) and the Socket.IO
// events (docs/protocol.md), with no framework. The connection, acks, the send queue,
// de-duplication, gap fill and token refresh are the JavaScript client SDK's (clients/js,
// copied to vendor/banter-client by `make web-assets`) over the official socket.io-client.
//
// Rule: user content (messages, names) is only ever set with textContent / createElement,
// never parsed as HTML, so `<img src=x onerror=alert(1)>` shows as those characters.

import { createCalls } from "./calls.js";
import {
  BanterError,
  createBanterClient,
  createRestClient,
  newClientId,
} from "./vendor/banter-client/index.js";

const io = window.io; // vendor/socket.io.min.js, a classic script that runs before this module

const SESSION_KEY = "banter.session"; // sessionStorage: per tab, so two tabs can be two users
const ROOM_KEY = "banter.room";
const DEVICE_KEY = "banter.pushDevice"; // the push device id this tab's user has here
const HISTORY_PAGE = 30;
// The server keeps a typing mark 5 s (TYPING_TIMEOUT) after the last typing-start and allows
// 20 per 10 s: repeat well inside the timeout, stop after a pause.
const TYPING_REPEAT_MS = 2_500;
const TYPING_IDLE_MS = 3_000;
// Hide someone's "typing" if their user-stopped-typing never arrives (e.g. we reconnected).
const TYPING_SHOW_MS = 7_000;
const MAX_ATTACHMENTS = 10; // per message, as the server checks
// Loaded images are kept as data: URLs; past this many the oldest are dropped (and fetched
// again if shown again), so a long session does not grow without bound.
const IMAGE_CACHE_SIZE = 200;
// The page fits thumbnails in this box (the server makes them at most 320 px a side).
const IMAGE_BOX = { width: 320, height: 240 };

const $ = (id) => document.getElementById(id);

const state = {
  session: null, // {access, refresh, user}
  client: null, // the SDK's BanterClient (the socket) of this session
  rooms: new Map(), // roomId -> room (REST shape, kept current by events)
  roomOrder: [], // room ids, most recently active first
  currentRoomId: null,
  openSeq: 0, // bumps on every room switch; late answers for an old room are dropped
  members: [], // members of the current room
  byId: new Map(), // messageId -> message entry (current room)
  pending: new Map(), // clientId -> message entry not yet acknowledged
  historyLoaded: false,
  nextBefore: null,
  reads: new Map(), // roomId -> Map(userId -> read seq), from message-read
  myRead: new Map(), // roomId -> my read seq
  markingRead: false,
  typing: new Map(), // roomId -> Map(userId -> {name, timer})
  presence: new Map(), // userId -> {online, status, lastSeen}
  profilesAsked: new Set(), // users whose lastSeen we fetched over REST
  typingSentAt: 0,
  typingIdleTimer: null,
  notifications: 0,
  uploads: [], // files attached in the composer: {file, xhr, progress, attachment, node}
  images: new Map(), // upload id -> Promise of a data: URL (insertion order: least recent first)
  // A room asked for by the address (/?room=<id>, a notification's click) or by the service
  // worker before the rooms are known: opened once they are.
  requestedRoomId: null,
  push: {
    publicKey: null, // the server's VAPID key; null: the server sends no pushes
    registration: null, // the service worker's, when this browser can receive pushes
    on: false,
    busy: false,
  },
  // roomId -> muted. The room payload does not say, so this is what this page set; rooms it
  // never changed show as unmuted.
  muted: new Map(),
  doNotDisturb: false,
};

// ---------------------------------------------------------------------------------------
// Small helpers

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(className, text, onClick) {
  const node = el("button", className, text);
  node.type = "button";
  node.addEventListener("click", onClick);
  return node;
}

function me() {
  return state.session?.user;
}

function notice(text) {
  $("notice").textContent = text || "";
}

function formatTime(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function formatLastSeen(iso) {
  if (!iso) return "offline";
  const seconds = (Date.now() - new Date(iso).getTime()) / 1000;
  if (seconds < 60) return "last seen just now";
  if (seconds < 3600) return `last seen ${Math.floor(seconds / 60)} min ago`;
  const when = new Date(iso);
  const sameDay = when.toDateString() === new Date().toDateString();
  return sameDay
    ? `last seen today at ${formatTime(iso)}`
    : `last seen ${when.toLocaleDateString()} ${formatTime(iso)}`;
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function displayName(user) {
  return user?.displayName || user?.username || "someone";
}

function pageActive() {
  return document.visibilityState === "visible" && document.hasFocus();
}

// ---------------------------------------------------------------------------------------
// REST (the SDK's RestClient: the bearer token, refreshed once on a 401, one refresh at a
// time since refresh tokens rotate)

const rest = createRestClient({
  onTokens(tokens) {
    if (!state.session) return; // a login: saved by login()
    state.session.access = tokens.access;
    state.session.refresh = tokens.refresh;
    saveSession();
  },
  onSessionExpired() {
    if (state.session) endSession("Session expired: log in again.");
  },
});

function httpError(status, body) {
  // A failed upload or file fetch (XHR / fetch of its own): the SDK's error, as REST calls.
  const message = body?.message || `HTTP ${status}`;
  return new BanterError({ code: body?.code || "http_error", message, details: body?.details }, status);
}

function api(method, path, body) {
  return rest.request(method, path, body);
}

function refreshTokens() {
  return rest.refreshTokens();
}

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(state.session));
}

// ---------------------------------------------------------------------------------------
// Socket.IO (the SDK's BanterClient)

function call(event, payload) {
  // Emit with an ack; resolve with `data` of {ok, data}, reject with the error.
  if (!state.client) return Promise.reject(new Error("Not connected"));
  return state.client.call(event, payload);
}

function connected() {
  return Boolean(state.client?.connected);
}

function setConnection(kind, detail) {
  const status = $("conn-status");
  status.dataset.state = kind;
  status.textContent = detail ? `${kind} · ${detail}` : kind;
  status.title = {
    connected: "Connected to the server",
    reconnecting: "Connection lost: reconnecting automatically",
    offline: "Not connected",
  }[kind];
}

function connect() {
  // Default transports: HTTP long-polling first, then the upgrade to WebSocket. The SDK
  // sends the current (refreshed) token on every reconnect, renews it on auth:expiring,
  // resends unacknowledged messages after a reconnect, and delivers each room's messages
  // once, in seq order (recovery replays de-duplicated, gaps paged over REST).
  const client = createBanterClient({ url: location.origin, io, rest, autoConnect: false });
  state.client = client;

  client.on("connect", ({ transport, reconnect, recovered }) => {
    setConnection("connected", transport);
    notice("");
    if (state.currentRoomId !== null) joinCurrentRoom();
    // Not recovered: the room list's counts over REST (the SDK pages the open room's
    // messages itself).
    if (reconnect && !recovered) resync();
  });
  client.on("upgrade", ({ transport }) => setConnection("connected", transport));

  client.on("disconnect", ({ reason }) => {
    // The server ended the session (token expiry, abuse): the SDK refreshes the token and
    // connects again, or says "revoked" (logout elsewhere, deactivation).
    if (reason === "io client disconnect" || reason === "io server disconnect")
      return setConnection("offline");
    setConnection("reconnecting", reason);
  });
  client.on("revoked", () => endSession("You were logged out."));

  client.on("reconnect_attempt", ({ attempt }) =>
    setConnection("reconnecting", `attempt ${attempt}`),
  );
  client.on("reconnect_failed", () => setConnection("offline"));

  client.on("connect_error", ({ code, message, willRetry }) => {
    if (willRetry) {
      // A transport error (socket.io-client retries by itself), or an expired token (the SDK
      // refreshes it and connects again).
      if ($("conn-status").dataset.state !== "reconnecting") setConnection("reconnecting");
      return;
    }
    // The server refused the CONNECT: nobody retries on their own.
    setConnection("offline", code || message);
    if (code === "token_invalid" || code === "auth_required" || code === "user_inactive")
      endSession("Your session is no longer valid: log in again.");
    else notice(`Cannot connect: ${message}`);
  });

  client.on("refresh_failed", (error) => notice(`Could not renew the session: ${error.message}`));

  client.on("error", (error) => {
    if (error.code !== "token_expired") notice(`${error.event || "server"}: ${error.message}`);
  });

  client.on("message-received", onMessageReceived);
  client.on("message-edited", (event) =>
    patchMessage(event.messageId, event.roomId, {
      content: event.content,
      editedAt: event.editedAt,
    }),
  );
  client.on("message-deleted", (event) =>
    patchMessage(event.messageId, event.roomId, {
      content: "",
      attachments: [], // as the server's payload of a deleted message: its files are gone
      deletedAt: new Date().toISOString(),
    }),
  );
  client.on("message-reaction", onMessageReaction);
  client.on("message-read", onMessageRead);
  client.on("user-typing", onUserTyping);
  client.on("user-stopped-typing", (event) => clearTyping(event.roomId, event.userId));
  client.on("user-online", (event) =>
    setPresence(event.userId, { online: true, status: event.status }),
  );
  client.on("user-offline", (event) => {
    setPresence(event.userId, { online: false, lastSeen: event.lastSeen });
    for (const roomId of state.typing.keys()) clearTyping(roomId, event.userId);
  });
  client.on("presence-update", (event) => setPresence(event.userId, { status: event.status }));
  client.on("notification:count", (event) => setNotifications(event.unread));
  client.on("user-joined-room", onUserJoinedRoom);
  client.on("user-left-room", onUserLeftRoom);
  calls.attach(client);
  client.connect();
}

async function resync() {
  await loadRooms().catch(() => {});
}

// ---------------------------------------------------------------------------------------
// Session

async function login(username, password) {
  const answer = await rest.login(username, password);
  state.session = { access: answer.access, refresh: answer.refresh, user: answer.user };
  saveSession();
  await startSession();
}

async function startSession() {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("session").hidden = false;
  $("me-name").textContent = displayName(me());
  rest.setTokens({ access: state.session.access, refresh: state.session.refresh });
  try {
    await rest.freshToken(5_000); // skip a doomed first connect
  } catch {
    if (!state.session) return; // refused: back on the login form
  }
  setupPush();
  calls.start();
  try {
    await loadRooms();
  } catch (error) {
    notice(`Could not load rooms: ${error.message}`);
  }
  const requested = state.requestedRoomId;
  state.requestedRoomId = null;
  if (requested !== null && state.rooms.size && !state.rooms.has(requested))
    notice(`Room ${requested} is not one of your rooms`);
  const remembered = Number(sessionStorage.getItem(ROOM_KEY));
  const first = [requested, remembered].find((id) => state.rooms.has(id)) ?? state.roomOrder[0];
  if (first !== undefined) openRoom(first);
  connect();
}

function endSession(message) {
  calls.stop(); // while the socket can still tell the server
  state.client?.close();
  state.client = null;
  state.session = null;
  rest.setTokens(null);
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(ROOM_KEY);
  state.currentRoomId = null;
  state.rooms.clear();
  state.roomOrder = [];
  // The next login in this tab may be someone else: nothing of this user's files stays.
  clearPendingUploads({ abort: true });
  state.images.clear();
  resetPush();
  $("chat-view").hidden = true;
  $("session").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  setConnection("offline");
}

async function logout() {
  // While the token still works: this browser stops getting this user's pushes (someone
  // else may use it next).
  if (state.push.on) await disablePush().catch(() => {});
  const refresh = state.session?.refresh;
  endSession();
  // Blacklists the refresh token; the server also closes this user's other sockets.
  if (refresh)
    await rest.request("POST", "/api/auth/logout", { refresh }, { auth: false }).catch(() => {});
}

// ---------------------------------------------------------------------------------------
// Rooms

function roomName(room) {
  if (room.kind === "direct") {
    const other = (room.members || []).find((member) => member.id !== me().id);
    return other ? displayName(other) : "Direct chat";
  }
  return room.name || `Room ${room.id}`;
}

async function loadRooms() {
  const rooms = await api("GET", "/api/rooms");
  state.rooms = new Map(rooms.map((room) => [room.id, room]));
  state.roomOrder = rooms.map((room) => room.id); // the server sorts by last activity
  renderRooms();
}

function renderRooms() {
  const list = $("rooms");
  list.replaceChildren(
    ...state.roomOrder.map((roomId) => {
      const room = state.rooms.get(roomId);
      const item = el("li");
      const entry = button("room-item", undefined, () => openRoom(roomId));
      entry.dataset.roomId = roomId;
      if (roomId === state.currentRoomId) entry.setAttribute("aria-current", "true");
      entry.append(el("span", "room-name", roomName(room)));
      const badge = el("span", "badge unread", String(room.unreadCount));
      badge.hidden = !room.unreadCount;
      entry.append(badge);
      item.append(entry);
      return item;
    }),
  );
  const total = [...state.rooms.values()].reduce((sum, room) => sum + room.unreadCount, 0);
  document.title = total ? `(${total}) Banter` : "Banter";
}

function touchRoom(roomId) {
  // Most recently active first, like the server's order.
  state.roomOrder = [roomId, ...state.roomOrder.filter((id) => id !== roomId)];
}

async function openRoom(roomId) {
  stopTyping();
  const openSeq = ++state.openSeq;
  state.currentRoomId = roomId;
  sessionStorage.setItem(ROOM_KEY, String(roomId));
  state.byId.clear();
  state.pending.clear();
  state.historyLoaded = false;
  state.nextBefore = null;
  state.members = [];
  $("messages").replaceChildren();
  $("load-older").hidden = true;
  $("room-title").textContent = roomName(state.rooms.get(roomId));
  calls.showRoom(state.rooms.get(roomId));
  renderMute();
  renderRooms();
  renderMembers();
  renderTyping();
  renderSeenBy();
  if (connected()) joinCurrentRoom();
  try {
    const page = await api("GET", `/api/rooms/${roomId}/messages?limit=${HISTORY_PAGE}`);
    if (openSeq !== state.openSeq) return;
    page.results.forEach(upsertMessage);
    state.historyLoaded = true;
    // The SDK continues the room from here: later messages in seq order, a gap (or a
    // reconnect that was not recovered) paged over REST.
    state.client?.trackRoom(roomId, maxSeq());
    setOlder(page);
    scrollToBottom();
    renderSeenBy();
    maybeMarkRead();
  } catch (error) {
    notice(`Could not load messages: ${error.message}`);
  }
}

async function joinCurrentRoom() {
  // join-room returns the live state: members, who is online and who is typing.
  const roomId = state.currentRoomId;
  const openSeq = state.openSeq;
  try {
    const joined = await call("join-room", { roomId });
    if (openSeq !== state.openSeq) return;
    state.members = joined.room.members;
    state.rooms.set(roomId, { ...state.rooms.get(roomId), ...joined.room });
    const online = new Map(joined.onlineUsers.map((entry) => [entry.userId, entry.status]));
    for (const member of state.members) {
      const known = state.presence.get(member.id) || {};
      state.presence.set(member.id, {
        ...known,
        online: online.has(member.id),
        status: online.get(member.id) || known.status,
      });
    }
    const typing = typingIn(roomId);
    for (const userId of joined.typingUsers) {
      const member = state.members.find((m) => m.id === userId);
      if (member && !typing.has(userId)) showTyping(roomId, userId, displayName(member));
    }
    $("room-title").textContent = roomName(state.rooms.get(roomId));
    calls.showRoom(state.rooms.get(roomId));
    renderMembers();
    renderSeenBy();
    fetchLastSeen();
  } catch (error) {
    notice(`Could not join the room: ${error.message}`);
  }
}

async function fetchLastSeen() {
  // join-room says who is online; an offline member's "last seen" comes from their profile.
  const wanted = state.members.filter(
    (member) => !state.presence.get(member.id)?.online && !state.profilesAsked.has(member.id),
  );
  await Promise.all(
    wanted.map(async (member) => {
      state.profilesAsked.add(member.id);
      try {
        const profile = await api("GET", `/api/users/${member.id}`);
        const known = state.presence.get(member.id) || {};
        if (!known.online) state.presence.set(member.id, { ...known, lastSeen: profile.lastSeen });
      } catch {
        state.profilesAsked.delete(member.id);
      }
    }),
  );
  renderMembers();
}

function onUserJoinedRoom(event) {
  if (event.user.id === me().id) return void loadRooms().catch(() => {});
  if (event.roomId === state.currentRoomId && !state.members.some((m) => m.id === event.user.id)) {
    state.members.push({ ...event.user, role: "member" });
    renderMembers();
  }
}

function onUserLeftRoom(event) {
  if (event.userId === me().id) {
    loadRooms()
      .then(() => {
        if (event.roomId === state.currentRoomId && state.roomOrder.length)
          openRoom(state.roomOrder[0]);
      })
      .catch(() => {});
    return;
  }
  if (event.roomId === state.currentRoomId) {
    state.members = state.members.filter((member) => member.id !== event.userId);
    renderMembers();
  }
}

// ---------------------------------------------------------------------------------------
// Presence

function setPresence(userId, change) {
  state.presence.set(userId, { ...(state.presence.get(userId) || {}), ...change });
  renderMembers();
}

function renderMembers() {
  $("members").replaceChildren(
    ...state.members.map((member) => {
      const presence = state.presence.get(member.id) || {};
      const online = Boolean(presence.online);
      const item = el("li", "member");
      item.dataset.userId = member.id;
      item.dataset.presence = online ? "online" : "offline";
      const dot = el("span", `dot ${online ? "online" : "offline"}`);
      if (online && presence.status && presence.status !== "online")
        dot.classList.add(presence.status);
      dot.title = online ? presence.status || "online" : "offline";
      const name = el("span", "member-name", displayName(member));
      if (member.id === me().id) name.append(el("span", "you", " (you)"));
      const detail = el(
        "span",
        "last-seen",
        online ? presence.status || "online" : formatLastSeen(presence.lastSeen),
      );
      item.append(dot, name, detail);
      return item;
    }),
  );
}

// ---------------------------------------------------------------------------------------
// Messages

function lastServerMessage() {
  let last = null;
  for (const message of state.byId.values()) if (!last || message.seq > last.seq) last = message;
  return last;
}

function maxSeq() {
  return lastServerMessage()?.seq ?? 0;
}

function upsertMessage(message) {
  // One entry per message: the optimistic copy (keyed by clientId) becomes the stored one
  // when its ack or its message-received arrives, whichever comes first.
  if (message.roomId !== state.currentRoomId) return null;
  let entry = state.byId.get(message.id);
  if (!entry && message.clientId && message.user.id === me().id) {
    entry = state.pending.get(message.clientId);
    state.pending.delete(message.clientId);
  }
  // A new message's payload has no reactions ([]): those follow as message-reaction events,
  // so a repeated message-received (a replay) must not wipe what they built. History pages
  // and edit answers carry the reactions as they are now, and replace them.
  const known = entry?.reactions;
  entry = Object.assign(entry || {}, message, { pending: false, failed: null });
  if (known && message.reactions?.length === 0 && !message.deletedAt) entry.reactions = known;
  state.byId.set(message.id, entry);
  renderMessage(entry);
  return entry;
}

function patchMessage(messageId, roomId, change) {
  if (roomId !== state.currentRoomId) return;
  const entry = state.byId.get(messageId);
  if (!entry) return;
  // A deleted message's images leave memory too (the server no longer serves them).
  if (change.deletedAt) for (const file of entry.attachments || []) state.images.delete(file.id);
  Object.assign(entry, change);
  if (change.deletedAt) entry.editing = false;
  renderMessage(entry);
  renderSeenBy();
}

// The quick picker's emojis; any emoji a message already has shows as its own chip.
const QUICK_EMOJIS = ["👍", "❤️", "😂", "🎉", "😮", "😢"];

function onMessageReaction(event) {
  if (event.roomId !== state.currentRoomId) return;
  const entry = state.byId.get(event.messageId);
  if (!entry) return;
  const reactions = (entry.reactions ||= []);
  let reaction = reactions.find((r) => r.emoji === event.emoji);
  if (!reaction) reactions.push((reaction = { emoji: event.emoji, count: 0, mine: false }));
  // count is absolute (a replayed event sets the same value again); mine only moves for
  // this user's own reactions, from any of their devices.
  reaction.count = event.count;
  if (event.userId === me().id) reaction.mine = event.added;
  entry.reactions = reactions.filter((r) => r.count > 0);
  renderMessage(entry);
}

async function toggleReaction(entry, emoji) {
  const mine = entry.reactions?.some((r) => r.emoji === emoji && r.mine);
  try {
    // The answer is the reaction's state after the call, the same shape as the event.
    onMessageReaction(await call(mine ? "unreact" : "react", { messageId: entry.id, emoji }));
  } catch (error) {
    notice(`Could not react: ${error.message}`);
  }
}

function reactionBar(entry) {
  const bar = el("div", "reactions");
  for (const reaction of entry.reactions || []) {
    const chip = button(
      `reaction${reaction.mine ? " mine" : ""}`,
      `${reaction.emoji} ${reaction.count}`,
      () => toggleReaction(entry, reaction.emoji),
    );
    chip.dataset.emoji = reaction.emoji;
    chip.setAttribute("aria-pressed", String(reaction.mine));
    bar.append(chip);
  }
  const picker = el("span", "picker");
  for (const emoji of QUICK_EMOJIS) {
    const choice = button("link react", emoji, () => toggleReaction(entry, emoji));
    choice.dataset.emoji = emoji;
    choice.title = `React with ${emoji}`;
    picker.append(choice);
  }
  bar.append(picker);
  return bar;
}

function renderMessage(entry) {
  const mine = entry.user.id === me().id;
  const node = entry.node || (entry.node = el("li"));
  node.className = "message";
  node.classList.toggle("own", mine);
  node.classList.toggle("pending", entry.pending);
  node.classList.toggle("failed", Boolean(entry.failed));
  node.classList.toggle("deleted", Boolean(entry.deletedAt));
  node.dataset.seq = entry.seq ?? "";
  node.dataset.id = entry.id ?? "";
  node.dataset.clientId = entry.clientId ?? "";

  const meta = el("div", "meta");
  meta.append(el("span", "author", displayName(entry.user)));
  const pendingLabel = connected() ? "sending…" : "waiting for connection…";
  const time = el("time", "time", entry.pending ? pendingLabel : formatTime(entry.createdAt));
  if (entry.createdAt) time.dateTime = entry.createdAt;
  meta.append(time);
  if (entry.editedAt && !entry.deletedAt) meta.append(el("span", "edited", "(edited)"));

  if (mine && !entry.pending && !entry.failed && !entry.deletedAt && !entry.editing) {
    const actions = el("span", "actions");
    actions.append(
      button("link edit", "Edit", () => {
        entry.editing = true;
        renderMessage(entry);
        node.querySelector(".edit-input")?.focus();
      }),
      button("link delete", "Delete", () => deleteMessage(entry)),
    );
    meta.append(actions);
  }

  const parts = [meta];
  const attachments = entry.deletedAt ? [] : entry.attachments || [];
  if (attachments.length) parts.push(attachmentsView(entry, attachments));
  if (entry.editing) {
    parts.push(editor(entry));
  } else if (entry.deletedAt || entry.content || !attachments.length) {
    // textContent: the message is shown exactly as typed, markup included. (A file sent
    // without a caption has no text line at all.)
    parts.push(el("div", "content", entry.deletedAt ? "message deleted" : entry.content));
  }
  if (entry.id !== undefined && !entry.pending && !entry.deletedAt) parts.push(reactionBar(entry));
  if (entry.failed) {
    const failure = el("div", "failure", `Not sent: ${entry.failed}`);
    failure.append(
      button("link", "Retry", () => sendEntry(entry)),
      button("link", "Discard", () => {
        state.pending.delete(entry.clientId);
        node.remove();
      }),
    );
    parts.push(failure);
  }
  node.replaceChildren(...parts);
  place(node, entry);
}

function place(node, entry) {
  // Stored messages in seq order; pending ones after all of them, in send order.
  const list = $("messages");
  if (entry.seq === undefined || entry.pending) {
    if (!node.isConnected) list.append(node);
    return;
  }
  let before = null;
  for (const other of list.children) {
    if (other === node) continue;
    const seq = other.dataset.seq === "" ? Infinity : Number(other.dataset.seq);
    if (
      seq > entry.seq ||
      other.classList.contains("pending") ||
      other.classList.contains("failed")
    ) {
      before = other;
      break;
    }
  }
  if (node.nextSibling !== before || !node.isConnected) list.insertBefore(node, before);
}

function editor(entry) {
  const form = el("form", "edit-form");
  // A textarea, not an input: messages may have several lines.
  const input = el("textarea", "edit-input");
  input.rows = 1;
  input.value = entry.content;
  input.maxLength = 4000;
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      entry.editing = false;
      renderMessage(entry);
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.append(
    input,
    el("button", "link", "Save"),
    button("link", "Cancel", () => {
      entry.editing = false;
      renderMessage(entry);
    }),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const content = input.value.trim();
    // A caption may be emptied (the files remain); a message of text alone needs its text.
    if ((!content && !entry.attachments?.length) || content === entry.content) {
      entry.editing = false;
      return renderMessage(entry);
    }
    try {
      const stored = await call("edit-message", { messageId: entry.id, content });
      entry.editing = false;
      upsertMessage(stored);
    } catch (error) {
      notice(`Could not edit: ${error.message}`);
    }
  });
  return form;
}

async function deleteMessage(entry) {
  try {
    await call("delete-message", { messageId: entry.id });
    patchMessage(entry.id, entry.roomId, {
      content: "",
      attachments: [],
      deletedAt: new Date().toISOString(),
    });
  } catch (error) {
    notice(`Could not delete: ${error.message}`);
  }
}

function setOlder(page) {
  if (page.nextBefore !== undefined) state.nextBefore = page.hasMore ? page.nextBefore : null;
  $("load-older").hidden = state.nextBefore === null;
}

async function loadOlder() {
  if (state.nextBefore === null) return;
  const openSeq = state.openSeq;
  const pane = $("messages-pane");
  const fromBottom = pane.scrollHeight - pane.scrollTop;
  try {
    const page = await api(
      "GET",
      `/api/rooms/${state.currentRoomId}/messages?before=${state.nextBefore}&limit=${HISTORY_PAGE}`,
    );
    if (openSeq !== state.openSeq) return;
    page.results.forEach(upsertMessage);
    state.nextBefore = page.hasMore ? page.nextBefore : null;
    $("load-older").hidden = state.nextBefore === null;
    pane.scrollTop = pane.scrollHeight - fromBottom; // keep what the reader was looking at
  } catch (error) {
    notice(`Could not load older messages: ${error.message}`);
  }
}

function onMessageReceived(message) {
  // From the SDK: each message once, in seq order per room (live, replayed or paged over
  // REST after a gap).
  const room = state.rooms.get(message.roomId);
  if (!room) return void loadRooms().catch(() => {}); // a room we were just added to
  // At or below the room's lastSeq (a gap paged over REST after the room list was
  // reloaded): already in its unreadCount.
  const isNew = message.seq > room.lastSeq;
  room.lastSeq = Math.max(room.lastSeq, message.seq);
  const fromOther = message.user.id !== me().id;
  const viewing = message.roomId === state.currentRoomId && pageActive();
  if (fromOther && !viewing && isNew) room.unreadCount += 1;
  if (fromOther) clearTyping(message.roomId, message.user.id); // sending ends typing
  touchRoom(message.roomId);
  renderRooms();
  if (message.roomId !== state.currentRoomId) return;
  const follow = nearBottom() || !fromOther;
  upsertMessage(message);
  if (follow) scrollToBottom();
  renderSeenBy();
  maybeMarkRead();
}

// ---------------------------------------------------------------------------------------
// Sending

function send(content, attachments) {
  const entry = {
    clientId: newClientId(),
    roomId: state.currentRoomId,
    content,
    // The uploads' own answers: the optimistic copy already shows the files.
    attachments,
    user: me(),
    pending: true,
  };
  state.pending.set(entry.clientId, entry);
  state.typingSentAt = 0; // a sent message ends the typing mark on the server
  clearTimeout(state.typingIdleTimer);
  sendEntry(entry);
}

async function sendEntry(entry) {
  entry.pending = true;
  entry.failed = null;
  renderMessage(entry);
  scrollToBottom();
  try {
    // The SDK's send queue: written while offline it waits for the connection, and a
    // connection lost before the ack sends it again; a retry (the Retry button) reuses the
    // clientId, so the server returns the stored message instead of storing a copy.
    const stored = await state.client.send(entry.roomId, entry.content, {
      clientId: entry.clientId,
      attachments: entry.attachments.map((file) => file.id),
    });
    upsertMessage(stored);
    renderSeenBy();
  } catch (error) {
    // Reconciled by message-received meanwhile, or the session ended.
    if (!state.session || !state.pending.has(entry.clientId)) return;
    entry.pending = false;
    entry.failed = error.message;
    renderMessage(entry);
  }
}

// ---------------------------------------------------------------------------------------
// Attachments: uploading from the composer

function addFiles(files) {
  if (!state.session) return;
  for (const file of files) {
    if (state.uploads.length >= MAX_ATTACHMENTS) {
      notice(`At most ${MAX_ATTACHMENTS} attachments per message`);
      break;
    }
    const pending = { file, xhr: null, progress: el("progress"), attachment: null, node: null };
    pending.progress.max = 1; // no value yet: indeterminate until the first progress event
    state.uploads.push(pending);
    renderPendingUpload(pending);
    upload(pending);
  }
  renderPendingUploads();
}

async function upload(pending) {
  try {
    const attachment = await uploadFile(pending);
    // Removed while its answer was on the way (too late to abort): it stays removed.
    if (!state.uploads.includes(pending)) return;
    pending.attachment = attachment;
    renderPendingUpload(pending);
  } catch (error) {
    if (error.code === "aborted" || !state.uploads.includes(pending)) return; // removed
    removePendingUpload(pending);
    notice(`Could not upload ${pending.file.name}: ${error.message}`);
  }
}

async function uploadFile(pending) {
  // Refresh a token about to expire first: a 401 would only come after the whole body has
  // gone up, and the file would have to go up again.
  await rest.freshToken(30_000);
  try {
    return await postUpload(pending);
  } catch (error) {
    if (error.status !== 401 || !state.session) throw error;
    await refreshTokens();
    return postUpload(pending);
  }
}

function postUpload(pending) {
  // XMLHttpRequest, not fetch: only it reports how much of a request body has been sent.
  // (A same-origin XHR sends cookies whatever withCredentials says; the Bearer header is
  // still what authenticates, as the API tries it before an admin session.)
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    pending.xhr = xhr;
    xhr.open("POST", "/api/uploads");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Authorization", `Bearer ${rest.accessToken}`);
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) pending.progress.value = event.loaded / event.total;
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
      else reject(httpError(xhr.status, xhr.response));
    });
    // A body over the server's limit may be cut off before any answer: then only this fires.
    xhr.addEventListener("error", () => reject(new Error("the connection failed")));
    xhr.addEventListener("abort", () =>
      reject(Object.assign(new Error("cancelled"), { code: "aborted" })),
    );
    const form = new FormData();
    form.append("file", pending.file);
    xhr.send(form);
  });
}

function renderPendingUpload(pending) {
  const chip = pending.node || (pending.node = el("li", "pending-attachment"));
  const done = pending.attachment !== null;
  chip.classList.toggle("uploading", !done);
  const parts = [];
  if (done && pending.attachment.width !== null) parts.push(imageElement(pending.attachment));
  parts.push(
    el("span", "attachment-name", pending.file.name),
    el("span", "attachment-size", formatSize(done ? pending.attachment.size : pending.file.size)),
  );
  if (!done) parts.push(pending.progress);
  const remove = button("remove", "×", () => removePendingUpload(pending));
  remove.title = `Remove ${pending.file.name}`;
  remove.setAttribute("aria-label", remove.title);
  parts.push(remove);
  chip.replaceChildren(...parts);
  if (!chip.isConnected) $("pending-attachments").append(chip);
}

function renderPendingUploads() {
  $("pending-attachments").hidden = state.uploads.length === 0;
}

function removePendingUpload(pending) {
  // An upload already stored stays an orphan: the server removes those after a grace time.
  state.uploads = state.uploads.filter((other) => other !== pending);
  pending.xhr?.abort();
  pending.node?.remove();
  renderPendingUploads();
}

function clearPendingUploads({ abort }) {
  if (abort) for (const pending of state.uploads) pending.xhr?.abort();
  state.uploads = [];
  $("pending-attachments").replaceChildren();
  renderPendingUploads();
}

function hasFiles(event) {
  return event.dataTransfer?.types.includes("Files");
}

// ---------------------------------------------------------------------------------------
// Attachments: showing them in messages
//
// The files need this tab's token (sessionStorage: each tab may be another user), which an
// <img src> cannot send, and the page's CSP allows images from 'self' and data: only. So an
// image is fetched with the header and shown as a data: URL; a click opens a signed link,
// which needs no header, so the browser itself can show or save it.

function attachmentsView(entry, attachments) {
  // Built once per message and reused: a re-render (a reaction, read receipts) must not
  // rebuild the images. A message's attachments never change; deleting it drops them.
  const ids = attachments.map((file) => file.id).join(",");
  if (entry.attachmentsNode?.dataset.ids !== ids) {
    const box = el("div", "attachments");
    box.dataset.ids = ids;
    box.append(
      ...attachments.map((file) => (file.width !== null ? imageTile(file) : fileChip(file))),
    );
    entry.attachmentsNode = box;
  }
  return entry.attachmentsNode;
}

function imageTile(attachment) {
  const tile = button("attachment-open", undefined, () => openAttachment(attachment));
  tile.title = `${attachment.name} (${formatSize(attachment.size)})`;
  tile.append(imageElement(attachment));
  return tile;
}

function imageElement(attachment) {
  const img = el("img", "attachment-image");
  img.alt = attachment.name;
  img.dataset.uploadId = attachment.id;
  // The size it will have, reserved before it loads: the timeline does not jump, and
  // "scrolled to the bottom" stays true once the images arrive.
  const scale = Math.min(
    1,
    IMAGE_BOX.width / attachment.width,
    IMAGE_BOX.height / attachment.height,
  );
  img.width = Math.max(1, Math.round(attachment.width * scale));
  img.height = Math.max(1, Math.round(attachment.height * scale));
  imageSource(attachment).then(
    (source) => {
      img.src = source;
    },
    (error) => {
      img.classList.add("broken");
      img.title = `Could not load ${attachment.name}: ${error.message}`;
    },
  );
  return img;
}

function imageSource(attachment) {
  // One fetch per upload for the session: the same image in the composer, the optimistic
  // copy and the stored message, or a room opened again, comes from memory.
  const cached = state.images.get(attachment.id);
  if (cached) {
    state.images.delete(attachment.id); // re-inserted: now the most recently used
    state.images.set(attachment.id, cached);
    return cached;
  }
  const source = authorizedBlob(attachment.thumbnailUrl || attachment.url).then(imageDataUrl);
  source.catch(() => {
    // Forgotten on failure: the next render tries again.
    if (state.images.get(attachment.id) === source) state.images.delete(attachment.id);
  });
  state.images.set(attachment.id, source);
  for (const oldest of state.images.keys()) {
    if (state.images.size <= IMAGE_CACHE_SIZE) break;
    state.images.delete(oldest);
  }
  return source;
}

async function authorizedBlob(path) {
  const get = () =>
    fetch(path, {
      headers: { Authorization: `Bearer ${rest.accessToken}` },
      credentials: "omit",
    });
  let response = await get();
  if (response.status === 401 && state.session) {
    await refreshTokens();
    response = await get();
  }
  if (!response.ok) throw httpError(response.status, await response.json().catch(() => null));
  return response.blob();
}

function imageDataUrl(blob) {
  // Only images become data: URLs (the server sends nothing else for these paths).
  if (!blob.type.startsWith("image/")) return Promise.reject(new Error("not an image"));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.addEventListener("load", () => resolve(reader.result));
    reader.addEventListener("error", () => reject(reader.error));
    reader.readAsDataURL(blob);
  });
}

function fileChip(attachment) {
  const chip = button("attachment-file", undefined, () => openAttachment(attachment));
  chip.title = `Download ${attachment.name}`;
  chip.append(
    el("span", "attachment-name", attachment.name),
    el("span", "attachment-size", formatSize(attachment.size)),
  );
  return chip;
}

async function openAttachment(attachment) {
  // Signed links expire (MEDIA_LINK_TTL): ask for a fresh one on every click.
  try {
    const detail = await api("GET", `/api/uploads/${attachment.id}`);
    const link = el("a");
    link.href = detail.link;
    if (attachment.width !== null) {
      link.target = "_blank"; // an image opens in a tab of its own (served inline)
      link.rel = "noopener";
    } else {
      link.download = attachment.name; // other files are saved (served as attachments)
    }
    document.body.append(link);
    link.click();
    link.remove();
  } catch (error) {
    notice(`Could not open ${attachment.name}: ${error.message}`);
  }
}

// ---------------------------------------------------------------------------------------
// Typing

function startTyping() {
  const roomId = state.currentRoomId;
  if (roomId === null || !connected()) return;
  const now = Date.now();
  if (now - state.typingSentAt > TYPING_REPEAT_MS) {
    state.typingSentAt = now;
    state.client.emit("typing-start", { roomId });
  }
  clearTimeout(state.typingIdleTimer);
  state.typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingIdleTimer);
  if (state.typingSentAt && state.currentRoomId !== null && connected()) {
    state.client.emit("typing-stop", { roomId: state.currentRoomId });
  }
  state.typingSentAt = 0;
}

function typingIn(roomId) {
  if (!state.typing.has(roomId)) state.typing.set(roomId, new Map());
  return state.typing.get(roomId);
}

function onUserTyping(event) {
  showTyping(event.roomId, event.userId, event.displayName || event.username);
}

function showTyping(roomId, userId, name) {
  const typing = typingIn(roomId);
  clearTimeout(typing.get(userId)?.timer);
  const timer = setTimeout(() => clearTyping(roomId, userId), TYPING_SHOW_MS);
  typing.set(userId, { name, timer });
  renderTyping();
}

function clearTyping(roomId, userId) {
  const typing = state.typing.get(roomId);
  if (!typing?.has(userId)) return;
  clearTimeout(typing.get(userId).timer);
  typing.delete(userId);
  renderTyping();
}

function renderTyping() {
  const names = [...(state.typing.get(state.currentRoomId)?.values() || [])].map((t) => t.name);
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  $("typing").textContent = text;
}

// ---------------------------------------------------------------------------------------
// Read receipts

function onMessageRead(event) {
  if (!state.reads.has(event.roomId)) state.reads.set(event.roomId, new Map());
  const reads = state.reads.get(event.roomId);
  reads.set(event.userId, Math.max(reads.get(event.userId) || 0, event.seq));
  if (event.userId === me().id) noteMyRead(event.roomId, event.seq); // read on another tab
  if (event.roomId === state.currentRoomId) renderSeenBy();
}

function noteMyRead(roomId, seq) {
  state.myRead.set(roomId, Math.max(state.myRead.get(roomId) || 0, seq));
  const room = state.rooms.get(roomId);
  if (room && seq >= room.lastSeq && room.unreadCount) {
    room.unreadCount = 0;
    renderRooms();
  }
}

function renderSeenBy() {
  // "Seen by" under the newest message: who has read up to it (its author and I aside).
  const last = lastServerMessage();
  const line = $("seen-by");
  const reads = state.reads.get(state.currentRoomId);
  const readers =
    !last || !reads
      ? []
      : state.members.filter(
          (member) =>
            member.id !== me().id &&
            member.id !== last.user.id &&
            (reads.get(member.id) || 0) >= last.seq,
        );
  line.hidden = readers.length === 0;
  line.textContent = readers.length ? `Seen by ${readers.map(displayName).join(", ")}` : "";
}

function isOnScreen(node) {
  const pane = $("messages-pane").getBoundingClientRect();
  const box = node.getBoundingClientRect();
  return box.bottom > pane.top && box.top < pane.bottom;
}

async function maybeMarkRead() {
  // Mark the room read up to its newest message when that message is on screen and the
  // window is visible and focused; one mark-read at a time (the server coalesces anyway).
  const roomId = state.currentRoomId;
  const last = lastServerMessage();
  if (!last || state.markingRead || !pageActive() || !last.node || !isOnScreen(last.node)) return;
  const myRead = state.myRead.get(roomId) || 0;
  const unreadFromOthers = [...state.byId.values()].some(
    (message) => message.seq > myRead && message.user.id !== me().id,
  );
  if (!unreadFromOthers && !state.rooms.get(roomId)?.unreadCount) return;
  state.markingRead = true;
  try {
    const position = await call("mark-read", { roomId, messageId: last.id });
    noteMyRead(roomId, position.seq);
  } catch (error) {
    notice(`Could not mark as read: ${error.message}`);
  } finally {
    state.markingRead = false;
  }
  if (roomId === state.currentRoomId && maxSeq() > (state.myRead.get(roomId) || 0)) maybeMarkRead();
}

// ---------------------------------------------------------------------------------------
// Notifications

function setNotifications(unread) {
  state.notifications = unread;
  $("notif-count").textContent = String(unread);
  $("notif-badge").classList.toggle("has-unread", unread > 0);
}

// ---------------------------------------------------------------------------------------
// Push notifications (Web Push through the service worker at /sw.js)
//
// The subscription belongs to the browser, not to the tab or the user: the server keeps it
// as a device of whoever registered it last. So the toggle shows "on" only when the server
// lists this browser's subscription among the logged-in user's devices.

function pushCapable() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

function base64UrlBytes(text) {
  // The VAPID key as the server gives it (base64url, unpadded) -> the raw bytes subscribe wants.
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), "=");
  return Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
}

function sameBytes(buffer, bytes) {
  const other = new Uint8Array(buffer || []);
  return other.length === bytes.length && other.every((byte, index) => byte === bytes[index]);
}

async function setupPush() {
  const push = state.push; // replaced at logout: a late answer is for a session that ended
  let publicKey;
  try {
    ({ publicKey } = await rest.request("GET", "/api/push/vapid-public-key", undefined, {
      auth: false,
    }));
  } catch (error) {
    // 404: this server sends no pushes, so there is nothing to offer.
    if (error.status !== 404) notice(`Could not check for push notifications: ${error.message}`);
    return;
  }
  if (state.push !== push) return;
  push.publicKey = publicKey;
  renderMute();
  loadDoNotDisturb();
  if (!pushCapable()) return; // mute and do-not-disturb still apply to the user's other devices
  try {
    const registration = await navigator.serviceWorker.register("/sw.js", { scope: "/" });
    if (state.push !== push) return;
    push.registration = registration;
    renderPushToggle(); // off until the server confirms this browser's subscription is ours
    await syncPushToggle();
  } catch (error) {
    notice(`Could not set up push notifications: ${error.message}`);
  }
}

async function syncPushToggle() {
  // On when this browser's subscription is one of this user's devices on the server.
  const push = state.push;
  const subscription = await push.registration.pushManager.getSubscription();
  let device = null;
  if (subscription && Notification.permission === "granted") {
    const devices = await api("GET", "/api/devices");
    device = devices.find((known) => known.endpoint === subscription.endpoint) || null;
  }
  if (state.push !== push) return;
  if (device) sessionStorage.setItem(DEVICE_KEY, String(device.id));
  else sessionStorage.removeItem(DEVICE_KEY);
  state.push.on = Boolean(device);
  renderPushToggle();
}

function renderPushToggle() {
  const toggle = $("push-toggle");
  toggle.hidden = state.push.registration === null;
  toggle.disabled = state.push.busy;
  toggle.textContent = state.push.on ? "Push: on" : "Push: off";
  toggle.setAttribute("aria-pressed", String(state.push.on));
}

async function togglePush() {
  if (state.push.busy) return;
  state.push.busy = true;
  renderPushToggle();
  try {
    if (state.push.on) await disablePush();
    else await enablePush();
  } catch (error) {
    notice(`Could not turn push notifications ${state.push.on ? "off" : "on"}: ${error.message}`);
  } finally {
    state.push.busy = false;
    renderPushToggle();
  }
}

async function enablePush() {
  const push = state.push;
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    notice(
      permission === "denied"
        ? "Notifications are blocked for this site: allow them in the browser's site settings"
        : "Push notifications need the browser's permission to show notifications",
    );
    return;
  }
  const registration = await navigator.serviceWorker.ready; // subscribing needs an active worker
  const key = base64UrlBytes(push.publicKey);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameBytes(subscription.options.applicationServerKey, key)) {
    // Made with an older server key: the push service would refuse our pushes.
    await subscription.unsubscribe();
    subscription = null;
  }
  const created = subscription === null;
  if (created)
    subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: key,
    });
  let device;
  try {
    device = await api("POST", "/api/devices", {
      kind: "webpush",
      subscription: subscription.toJSON(),
    });
  } catch (error) {
    if (created) await subscription.unsubscribe().catch(() => {});
    throw error;
  }
  if (state.push !== push) return; // logged out meanwhile
  sessionStorage.setItem(DEVICE_KEY, String(device.id));
  push.on = true;
}

async function disablePush() {
  const deviceId = sessionStorage.getItem(DEVICE_KEY);
  let ours = true;
  if (deviceId) {
    try {
      await api("DELETE", `/api/devices/${deviceId}`);
    } catch (error) {
      if (error.status !== 404) throw error;
      // Gone already: pruned by the server, or registered since by another user of this
      // browser (another tab), whose notifications must keep coming.
      ours = false;
    }
  }
  sessionStorage.removeItem(DEVICE_KEY);
  state.push.on = false;
  if (ours) {
    const subscription = await state.push.registration?.pushManager.getSubscription();
    await subscription?.unsubscribe();
  }
}

function resetPush() {
  // The next login in this tab may be another user: their own devices and settings decide.
  sessionStorage.removeItem(DEVICE_KEY);
  state.push = { publicKey: null, registration: null, on: false, busy: false };
  state.muted.clear();
  state.doNotDisturb = false;
  renderPushToggle();
  renderDoNotDisturb();
  renderMute();
}

async function loadDoNotDisturb() {
  try {
    const profile = await api("GET", "/api/users/me");
    if (!state.session || state.push.publicKey === null) return;
    state.doNotDisturb = profile.doNotDisturb;
    renderDoNotDisturb();
  } catch (error) {
    notice(`Could not load notification settings: ${error.message}`);
  }
}

function renderDoNotDisturb() {
  const toggle = $("dnd-toggle");
  toggle.hidden = state.push.publicKey === null;
  toggle.setAttribute("aria-pressed", String(state.doNotDisturb));
}

async function toggleDoNotDisturb() {
  const toggle = $("dnd-toggle");
  toggle.disabled = true;
  try {
    const profile = await api("PATCH", "/api/users/me", { doNotDisturb: !state.doNotDisturb });
    state.doNotDisturb = profile.doNotDisturb;
  } catch (error) {
    notice(`Could not change do not disturb: ${error.message}`);
  } finally {
    toggle.disabled = false;
    renderDoNotDisturb();
  }
}

function renderMute() {
  const toggle = $("mute-toggle");
  const roomId = state.currentRoomId;
  toggle.hidden = state.push.publicKey === null || roomId === null;
  const muted = state.muted.get(roomId) === true;
  toggle.textContent = muted ? "Muted" : "Mute";
  toggle.setAttribute("aria-pressed", String(muted));
}

async function toggleMute() {
  const roomId = state.currentRoomId;
  if (roomId === null) return;
  const toggle = $("mute-toggle");
  toggle.disabled = true;
  try {
    const answer = await api("PATCH", `/api/rooms/${roomId}/notifications`, {
      muted: state.muted.get(roomId) !== true,
    });
    state.muted.set(answer.roomId, answer.muted);
  } catch (error) {
    notice(`Could not change the room's notifications: ${error.message}`);
  } finally {
    toggle.disabled = false;
    renderMute();
  }
}

function requestRoom(roomId) {
  // A room to show from outside the page: the address or a notification's click.
  if (!state.session || state.rooms.size === 0) {
    state.requestedRoomId = roomId; // opened when the session has its rooms
    return;
  }
  if (state.rooms.has(roomId)) return void openRoom(roomId);
  // Perhaps a room we were added to since the list was loaded.
  loadRooms().then(
    () =>
      state.rooms.has(roomId)
        ? openRoom(roomId)
        : notice(`Room ${roomId} is not one of your rooms`),
    (error) => notice(`Could not load rooms: ${error.message}`),
  );
}

// ---------------------------------------------------------------------------------------
// Scrolling

function nearBottom() {
  const pane = $("messages-pane");
  return pane.scrollHeight - pane.scrollTop - pane.clientHeight < 80;
}

function scrollToBottom() {
  const pane = $("messages-pane");
  pane.scrollTop = pane.scrollHeight;
}

// ---------------------------------------------------------------------------------------
// Wiring

// Audio and video calls (calls.js): it is told about the socket, the open room and the session.
const calls = createCalls({ call, api, notice, me, displayName, el, button });

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await login($("login-username").value.trim(), $("login-password").value);
    $("login-password").value = "";
  } catch (error) {
    $("login-error").textContent =
      error.status === 401 || error.status === 400 ? "Wrong username or password." : error.message;
  }
});

$("logout").addEventListener("click", logout);
$("push-toggle").addEventListener("click", togglePush);
$("dnd-toggle").addEventListener("click", toggleDoNotDisturb);
$("mute-toggle").addEventListener("click", toggleMute);
$("load-older").addEventListener("click", loadOlder);
$("notif-badge").addEventListener("click", () => {
  if (state.notifications) call("notifications:read", { all: true }).catch(() => {});
});

const composer = $("composer");
composer.addEventListener("input", () => (composer.value.trim() ? startTyping() : stopTyping()));
composer.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer-form").requestSubmit();
  }
});
// ---------------------------------------------------------------------------------------
// Search

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'" };

function snippetNodes(snippet) {
  // The server's snippet is escaped text with <mark> around the matches: split on the marks
  // and set every piece as text, so nothing in it is ever parsed as HTML here.
  const nodes = [];
  snippet.split(/(<mark>|<\/mark>)/).reduce((inMark, piece) => {
    if (piece === "<mark>") return true;
    if (piece === "</mark>") return false;
    const text = piece.replace(/&(amp|lt|gt|quot|#x27);/g, (entity) => ENTITIES[entity]);
    if (text) nodes.push(inMark ? el("mark", null, text) : document.createTextNode(text));
    return inMark;
  }, false);
  return nodes;
}

async function runSearch(q) {
  const list = $("search-results");
  if (!q.trim()) {
    list.hidden = true;
    return list.replaceChildren();
  }
  try {
    const page = await api("GET", `/api/search/messages?${new URLSearchParams({ q })}`);
    const items = page.results.map((hit) => {
      const room = state.rooms.get(hit.message.roomId);
      const item = el("li", "search-hit");
      item.dataset.id = hit.message.id;
      const head = el("div", "meta");
      head.append(
        el("span", "author", displayName(hit.message.user)),
        el("span", "room", room ? roomName(room) : ""),
      );
      const text = el("div", "snippet");
      text.append(...snippetNodes(hit.snippet));
      item.append(head, text);
      item.addEventListener("click", () => openRoom(hit.message.roomId));
      return item;
    });
    if (!items.length) items.push(el("li", "search-empty", "No messages found"));
    list.replaceChildren(...items);
    list.hidden = false;
  } catch (error) {
    notice(`Could not search: ${error.message}`);
  }
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  runSearch($("search").value);
});
$("search").addEventListener("search", () => runSearch($("search").value)); // the clear (x)

$("composer-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = composer.value.trim();
  if (state.currentRoomId === null) return;
  if (state.uploads.some((pending) => pending.attachment === null))
    return notice("Wait for the uploads to finish, then send");
  // With attachments the text is an optional caption.
  const attachments = state.uploads.map((pending) => pending.attachment);
  if (!content && !attachments.length) return;
  composer.value = "";
  clearPendingUploads({ abort: false });
  send(content, attachments);
});

$("attach-button").addEventListener("click", () => $("attach-input").click());
$("attach-input").addEventListener("change", (event) => {
  addFiles([...event.target.files]);
  event.target.value = ""; // choosing the same file again fires change again
});

// Files dropped anywhere on the room (timeline or composer) are attached.
const dropZone = $("messages-pane").closest(".room");
dropZone.addEventListener("dragover", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = "copy";
  dropZone.classList.add("dropping");
});
dropZone.addEventListener("dragleave", (event) => {
  if (!dropZone.contains(event.relatedTarget)) dropZone.classList.remove("dropping");
});
dropZone.addEventListener("drop", (event) => {
  if (!hasFiles(event)) return;
  event.preventDefault();
  dropZone.classList.remove("dropping");
  addFiles([...event.dataTransfer.files]);
});
// A file dropped elsewhere would make the browser navigate to it, leaving the chat.
for (const type of ["dragover", "drop"]) {
  window.addEventListener(type, (event) => {
    if (hasFiles(event)) event.preventDefault();
  });
}

$("messages-pane").addEventListener("scroll", () => maybeMarkRead(), { passive: true });
window.addEventListener("focus", () => maybeMarkRead());
document.addEventListener("visibilitychange", () => maybeMarkRead());
// "last seen 3 min ago" ages: redraw it now and then.
setInterval(() => state.members.length && renderMembers(), 30_000);

// A notification's click with this page open: the service worker asks it to show the room.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.addEventListener("message", (event) => {
    const message = event.data;
    if (message?.type === "open-room" && Number.isInteger(message.roomId))
      requestRoom(message.roomId);
  });
  navigator.serviceWorker.startMessages(); // deliver the ones that came while this loaded
}

// /?room=<id>, a notification's click with no page open: that room first (after the login).
const address = new URL(location.href);
if (address.searchParams.has("room")) {
  const roomId = Number(address.searchParams.get("room"));
  if (Number.isInteger(roomId) && roomId > 0) state.requestedRoomId = roomId;
  // Off the address: a reload then shows the room the user has moved to since.
  address.searchParams.delete("room");
  history.replaceState(null, "", address);
}

const saved = sessionStorage.getItem(SESSION_KEY);
if (saved) {
  state.session = JSON.parse(saved);
  startSession();
} else {
  $("login-view").hidden = false;
}
