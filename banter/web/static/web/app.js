// Banter web chat: a small demo client of the REST API (docs/api.md) and the Socket.IO
// events (docs/protocol.md), with the official socket.io-client and no framework.
//
// Rule: user content (messages, names) is only ever set with textContent / createElement,
// never parsed as HTML, so `<img src=x onerror=alert(1)>` shows as those characters.

const io = window.io; // vendor/socket.io.min.js, a classic script that runs before this module

const SESSION_KEY = "banter.session"; // sessionStorage: per tab, so two tabs can be two users
const ROOM_KEY = "banter.room";
const HISTORY_PAGE = 30;
const ACK_TIMEOUT_MS = 10_000;
// The server keeps a typing mark 5 s (TYPING_TIMEOUT) after the last typing-start and allows
// 20 per 10 s: repeat well inside the timeout, stop after a pause.
const TYPING_REPEAT_MS = 2_500;
const TYPING_IDLE_MS = 3_000;
// Hide someone's "typing" if their user-stopped-typing never arrives (e.g. we reconnected).
const TYPING_SHOW_MS = 7_000;

const $ = (id) => document.getElementById(id);

const state = {
  session: null, // {access, refresh, user}
  socket: null,
  everConnected: false,
  revoked: false,
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

function newClientId() {
  // crypto.randomUUID exists only in secure contexts; a plain-http deployment may not be one.
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
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

function displayName(user) {
  return user?.displayName || user?.username || "someone";
}

function pageActive() {
  return document.visibilityState === "visible" && document.hasFocus();
}

function tokenExpiry(token) {
  // Only to skip a doomed first connect; the server does the real checks.
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------------------------------
// REST

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
    this.details = body?.details;
  }
}

async function request(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  // credentials "omit": the page authenticates with its JWT only, never an admin cookie.
  const response = await fetch(path, {
    method,
    headers,
    credentials: "omit",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function api(method, path, body) {
  try {
    return await request(method, path, body, state.session?.access);
  } catch (error) {
    if (error.status !== 401 || !state.session) throw error;
    await refreshTokens(); // the access token expired: refresh once and retry
    return request(method, path, body, state.session.access);
  }
}

let refreshing = null;

function refreshTokens() {
  // One refresh at a time: refresh tokens rotate, so a second concurrent use would be
  // refused as reuse of a blacklisted token.
  refreshing ??= (async () => {
    try {
      const pair = await request("POST", "/api/auth/token/refresh", {
        refresh: state.session.refresh,
      });
      state.session.access = pair.access;
      state.session.refresh = pair.refresh;
      saveSession();
    } catch (error) {
      if (error.status === 401 || error.status === 400)
        endSession("Session expired: log in again.");
      throw error;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function saveSession() {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(state.session));
}

// ---------------------------------------------------------------------------------------
// Socket.IO

function call(event, payload) {
  // Emit with an ack; resolve with `data` of {ok, data}, reject with the error envelope.
  return new Promise((resolve, reject) => {
    state.socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (timeoutError, answer) => {
      if (timeoutError)
        reject(Object.assign(new Error("No answer from the server"), { code: "timeout" }));
      else if (answer.ok) resolve(answer.data);
      else reject(Object.assign(new Error(answer.error.message), answer.error));
    });
  });
}

function connected() {
  const socket = state.socket;
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve) => socket.once("connect", resolve));
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
  // Default transports: HTTP long-polling first, then the upgrade to WebSocket.
  // auth is a function so that every reconnect sends the current (refreshed) token.
  const socket = io(location.origin, { auth: (cb) => cb({ token: state.session.access }) });
  state.socket = socket;

  socket.on("connect", () => {
    const engine = socket.io.engine;
    setConnection("connected", engine.transport.name);
    engine.on("upgrade", (transport) => setConnection("connected", transport.name));
    notice("");
    const reconnect = state.everConnected;
    state.everConnected = true;
    if (state.currentRoomId !== null) joinCurrentRoom();
    if (reconnect) resync(); // nothing is replayed on reconnect: catch up over REST
  });

  socket.on("disconnect", (reason) => {
    if (reason === "io client disconnect") return setConnection("offline");
    if (reason === "io server disconnect") {
      // The server ended the session (token expiry, logout elsewhere, abuse): no automatic
      // reconnect. Log out when revoked, else refresh the token and connect again.
      setConnection("offline");
      if (state.revoked) return endSession("You were logged out.");
      refreshTokens().then(
        () => socket.connect(),
        () => {},
      );
      return;
    }
    setConnection("reconnecting", reason);
  });

  socket.io.on("reconnect_attempt", (attempt) =>
    setConnection("reconnecting", `attempt ${attempt}`),
  );
  socket.io.on("reconnect_failed", () => setConnection("offline"));

  socket.on("connect_error", (error) => {
    if (socket.active) {
      // A transport error: socket.io-client retries by itself (reconnect_attempt shows the count).
      if ($("conn-status").dataset.state !== "reconnecting") setConnection("reconnecting");
      return;
    }
    // The server refused the CONNECT: socket.io-client does not retry on its own.
    const code = error.data?.code;
    setConnection("offline", code || error.message);
    if (code === "token_expired")
      refreshTokens().then(
        () => socket.connect(),
        () => {},
      );
    else if (code === "token_invalid" || code === "auth_required" || code === "user_inactive")
      endSession("Your session is no longer valid: log in again.");
    else notice(`Cannot connect: ${error.message}`);
  });

  socket.on("auth:expiring", async () => {
    try {
      await refreshTokens();
      await call("auth:refresh", { token: state.session.access });
    } catch (error) {
      notice(`Could not renew the session: ${error.message}`);
    }
  });

  socket.on("error", (error) => {
    if (error.code === "unauthorized" && error.details?.reason) state.revoked = true;
    if (error.code !== "token_expired") notice(`${error.event || "server"}: ${error.message}`);
  });

  socket.on("message-received", onMessageReceived);
  socket.on("message-edited", (event) =>
    patchMessage(event.messageId, event.roomId, {
      content: event.content,
      editedAt: event.editedAt,
    }),
  );
  socket.on("message-deleted", (event) =>
    patchMessage(event.messageId, event.roomId, {
      content: "",
      deletedAt: new Date().toISOString(),
    }),
  );
  socket.on("message-reaction", onMessageReaction);
  socket.on("message-read", onMessageRead);
  socket.on("user-typing", onUserTyping);
  socket.on("user-stopped-typing", (event) => clearTyping(event.roomId, event.userId));
  socket.on("user-online", (event) =>
    setPresence(event.userId, { online: true, status: event.status }),
  );
  socket.on("user-offline", (event) => {
    setPresence(event.userId, { online: false, lastSeen: event.lastSeen });
    for (const roomId of state.typing.keys()) clearTyping(roomId, event.userId);
  });
  socket.on("presence-update", (event) => setPresence(event.userId, { status: event.status }));
  socket.on("notification:count", (event) => setNotifications(event.unread));
  socket.on("user-joined-room", onUserJoinedRoom);
  socket.on("user-left-room", onUserLeftRoom);
}

async function resync() {
  await loadRooms().catch(() => {});
  if (state.currentRoomId !== null && state.historyLoaded) await catchUp();
}

// ---------------------------------------------------------------------------------------
// Session

async function login(username, password) {
  const answer = await request("POST", "/api/auth/token", { username, password });
  state.session = { access: answer.access, refresh: answer.refresh, user: answer.user };
  saveSession();
  await startSession();
}

async function startSession() {
  $("login-view").hidden = true;
  $("chat-view").hidden = false;
  $("session").hidden = false;
  $("me-name").textContent = displayName(me());
  state.revoked = false;
  state.everConnected = false;
  if (tokenExpiry(state.session.access) < Date.now() + 5_000) {
    try {
      await refreshTokens();
    } catch {
      if (!state.session) return; // refused: back on the login form
    }
  }
  try {
    await loadRooms();
  } catch (error) {
    notice(`Could not load rooms: ${error.message}`);
  }
  const remembered = Number(sessionStorage.getItem(ROOM_KEY));
  const first = state.rooms.has(remembered) ? remembered : state.roomOrder[0];
  if (first !== undefined) openRoom(first);
  connect();
}

function endSession(message) {
  state.socket?.disconnect();
  state.socket = null;
  state.session = null;
  sessionStorage.removeItem(SESSION_KEY);
  sessionStorage.removeItem(ROOM_KEY);
  state.currentRoomId = null;
  state.rooms.clear();
  state.roomOrder = [];
  $("chat-view").hidden = true;
  $("session").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message || "";
  setConnection("offline");
}

async function logout() {
  const refresh = state.session?.refresh;
  endSession();
  // Blacklists the refresh token; the server also closes this user's other sockets.
  if (refresh) await request("POST", "/api/auth/logout", { refresh }).catch(() => {});
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
  renderRooms();
  renderMembers();
  renderTyping();
  renderSeenBy();
  if (state.socket?.connected) joinCurrentRoom();
  try {
    const page = await api("GET", `/api/rooms/${roomId}/messages?limit=${HISTORY_PAGE}`);
    if (openSeq !== state.openSeq) return;
    page.results.forEach(upsertMessage);
    state.historyLoaded = true;
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
  const pendingLabel = state.socket?.connected ? "sending…" : "waiting for connection…";
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
  if (entry.editing) {
    parts.push(editor(entry));
  } else {
    // textContent: the message is shown exactly as typed, markup included.
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
    if (!content || content === entry.content) {
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
    patchMessage(entry.id, entry.roomId, { content: "", deletedAt: new Date().toISOString() });
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

async function catchUp() {
  // After a reconnect or a gap in seq: page forward from the last seq we have.
  const roomId = state.currentRoomId;
  const openSeq = state.openSeq;
  let after = maxSeq();
  for (;;) {
    const page = await api("GET", `/api/rooms/${roomId}/messages?after=${after}&limit=100`).catch(
      () => null,
    );
    if (!page || openSeq !== state.openSeq) return;
    const follow = nearBottom();
    page.results.forEach(upsertMessage);
    if (follow) scrollToBottom();
    if (!page.hasMore || page.nextAfter === null) break;
    after = page.nextAfter;
  }
  renderSeenBy();
  maybeMarkRead();
}

function onMessageReceived(message) {
  const room = state.rooms.get(message.roomId);
  if (!room) return void loadRooms().catch(() => {}); // a room we were just added to
  room.lastSeq = Math.max(room.lastSeq, message.seq);
  const fromOther = message.user.id !== me().id;
  const viewing = message.roomId === state.currentRoomId && pageActive();
  if (fromOther && !viewing) room.unreadCount += 1;
  if (fromOther) clearTyping(message.roomId, message.user.id); // sending ends typing
  touchRoom(message.roomId);
  renderRooms();
  if (message.roomId !== state.currentRoomId) return;
  const gap = state.historyLoaded && message.seq > maxSeq() + 1;
  const follow = nearBottom() || !fromOther;
  upsertMessage(message);
  if (follow) scrollToBottom();
  renderSeenBy();
  if (gap) catchUp();
  else maybeMarkRead();
}

// ---------------------------------------------------------------------------------------
// Sending

function send(content) {
  const entry = {
    clientId: newClientId(),
    roomId: state.currentRoomId,
    content,
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
    // Written while offline: wait for the connection, so the ack timeout only runs once the
    // message has really gone out.
    await connected();
    // A retry reuses the clientId: the server returns the stored message instead of a copy.
    const stored = await call("send-message", {
      roomId: entry.roomId,
      content: entry.content,
      clientId: entry.clientId,
    });
    upsertMessage(stored);
    renderSeenBy();
  } catch (error) {
    if (!state.pending.has(entry.clientId)) return; // reconciled by message-received meanwhile
    entry.pending = false;
    entry.failed = error.message;
    renderMessage(entry);
  }
}

// ---------------------------------------------------------------------------------------
// Typing

function startTyping() {
  const roomId = state.currentRoomId;
  if (roomId === null || !state.socket?.connected) return;
  const now = Date.now();
  if (now - state.typingSentAt > TYPING_REPEAT_MS) {
    state.typingSentAt = now;
    state.socket.emit("typing-start", { roomId });
  }
  clearTimeout(state.typingIdleTimer);
  state.typingIdleTimer = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(state.typingIdleTimer);
  if (state.typingSentAt && state.currentRoomId !== null && state.socket?.connected) {
    state.socket.emit("typing-stop", { roomId: state.currentRoomId });
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
  if (!content || state.currentRoomId === null) return;
  composer.value = "";
  send(content);
});

$("messages-pane").addEventListener("scroll", () => maybeMarkRead(), { passive: true });
window.addEventListener("focus", () => maybeMarkRead());
document.addEventListener("visibilitychange", () => maybeMarkRead());
// "last seen 3 min ago" ages: redraw it now and then.
setInterval(() => state.members.length && renderMembers(), 30_000);

const saved = sessionStorage.getItem(SESSION_KEY);
if (saved) {
  state.session = JSON.parse(saved);
  startSession();
} else {
  $("login-view").hidden = false;
}
