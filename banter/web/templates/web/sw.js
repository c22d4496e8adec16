// Banter's service worker: shows Web Push messages as notifications and opens the room on a
// click. Nothing else: no fetch handler, no caching (the page always comes from the server).
//
// Served at /sw.js by banter/web/views.py (a worker's scope is at most its own directory, and
// the page is at /). A Django template only so that the view can find it: nothing is
// substituted, so it must not contain the template tag openers (brace then brace, percent
// or hash); tests/browser/test_web_app.py checks it is served exactly as written.

// A push (docs/api.md): {type, roomId?, messageId?, callId?, title, body, badge}. A message
// or mention names its room; a call (call_incoming, missed_call) its call. badge is the
// user's unread total, for the app badge.
function pushPayload(event) {
  try {
    const payload = event.data?.json();
    if (payload && typeof payload === "object") return payload;
  } catch {
    // Not JSON: still show something (Chromium requires a notification for every push).
  }
  return { type: "message", title: "Banter", body: event.data?.text() || "" };
}

function notificationTag(payload) {
  // One notification per room (a newer message replaces the older one) and per call (the
  // missed call replaces its ring), as the server collapses its pushes.
  if (Number.isInteger(payload.roomId)) return `room-${payload.roomId}`;
  if (Number.isInteger(payload.callId)) return `call-${payload.callId}`;
  return `banter-${payload.type || "push"}`;
}

function notificationOptions(payload) {
  return {
    body: String(payload.body ?? ""),
    tag: notificationTag(payload),
    renotify: true, // a replacement alerts again instead of swapping silently
    data: {
      roomId: Number.isInteger(payload.roomId) ? payload.roomId : null,
      messageId: payload.messageId ?? null,
    },
  };
}

async function setAppBadge(count) {
  // The Badging API exists only in some browsers, and only installed apps show it.
  if (!Number.isInteger(count) || !("setAppBadge" in navigator)) return;
  try {
    await (count > 0 ? navigator.setAppBadge(count) : navigator.clearAppBadge());
  } catch {
    // Not allowed here (for example not installed as an app): the notification is enough.
  }
}

async function showPush(payload) {
  await Promise.all([
    self.registration.showNotification(
      String(payload.title || "Banter"),
      notificationOptions(payload),
    ),
    setAppBadge(payload.badge),
  ]);
}

async function openRoom(roomId) {
  // An open page of ours (the focused one first) is told to open the room, then focused;
  // with none, a new page opens with the room in its address (it may have to log in first).
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const ours = pages.filter((client) => new URL(client.url).origin === self.location.origin);
  ours.sort((a, b) => Number(b.focused) - Number(a.focused));
  const page = ours[0];
  if (page) {
    // The message first: focusing can be refused (no click to justify it), the room still opens.
    if (roomId !== null) page.postMessage({ type: "open-room", roomId });
    try {
      await page.focus();
    } catch {
      // Not allowed to focus now: the page was told anyway.
    }
    return page;
  }
  return self.clients.openWindow(roomId === null ? "/" : `/?room=${roomId}`);
}

self.addEventListener("push", (event) => {
  event.waitUntil(showPush(pushPayload(event)));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const roomId = event.notification.data?.roomId;
  event.waitUntil(openRoom(Number.isInteger(roomId) ? roomId : null));
});

// A new version takes over at once: the worker keeps no state that an old page relies on.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
