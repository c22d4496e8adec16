// Calls in the web page: one-to-one audio and video calls from a direct room (docs/protocol.md
// "Calls"). The server rings, keeps the call's state and relays the WebRTC offer, answer and
// ICE candidates (`call:signal`, opaque to it); media flows between the two browsers.
//
// app.js owns the connection (the client SDK's BanterClient), the session and the rooms, and
// tells this module about them: attach(client) on every new client (its on(event, listener)
// works as a socket's), showRoom(room) when the open room or its members change, start() /
// stop() with the session. Same rule as app.js: names are set as text only.

// Until GET /api/calls/config answers: WebRTC with no STUN/TURN server (host candidates only,
// enough on one network); never a hard-coded third-party server.
const DEFAULT_CONFIG = { media: "webrtc", iceServers: [], appId: null, billing: "minute" };

const $ = (id) => document.getElementById(id);

// RTCPeerConnection.connectionState as the call view says it ("new", "connecting": connecting…).
const CONNECTION_LABELS = {
  connected: "connected",
  disconnected: "connection interrupted…",
  failed: "connection failed",
  closed: "closed",
};

// How each side stops a call that is still ringing.
const ENDING = { caller: "call:cancel", receiver: "call:reject" };

function callIdOf(event) {
  return event.callId ?? event.id;
}

function formatDuration(seconds) {
  const whole = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(whole / 3600);
  const minutes = String(Math.floor((whole % 3600) / 60));
  const rest = String(whole % 60).padStart(2, "0");
  return hours ? `${hours}:${minutes.padStart(2, "0")}:${rest}` : `${minutes}:${rest}`;
}

function coins(amount) {
  return `${amount} ${amount === 1 ? "coin" : "coins"}`;
}

// What a call of `seconds` costs so far, as the server bills it at the end (calls/billing.py):
// every started minute whole, or by the second rounded up to a whole coin.
function costSoFar(seconds, pricePerMinute, billing) {
  if (!(pricePerMinute > 0)) return 0;
  const whole = Math.max(0, Math.floor(seconds));
  if (billing === "minute") return Math.ceil(whole / 60) * pricePerMinute;
  return Math.ceil((whole * pricePerMinute) / 60);
}

function stopTracks(stream) {
  for (const track of stream?.getTracks() || []) track.stop();
}

/** The call feature. `page` is what app.js lends it: {call(event, payload) → ack data,
 * api(method, path), notice(text), me() → the user, displayName(user), el, button}. */
export function createCalls(page) {
  const { call, api, notice, me, displayName, el, button } = page;
  let config = null; // GET /api/calls/config, once per session (DEFAULT_CONFIG until then)
  let peer = null; // the other member of the open direct room: whom the buttons call
  let session = null; // the call this page is in, from the first ring to its end
  const missed = new Map(); // callId -> missed-call entry {node, notificationId}

  // -------------------------------------------------------------------------------------
  // Session and room, from app.js

  function start() {
    loadConfig();
    loadWallet();
  }

  function stop() {
    // Logging out (or the session ended) mid-call: tell the server as far as it still
    // listens (else the call ends after CALL_DROP_GRACE), and release camera and microphone.
    if (session) {
      const ending = session.phase === "active" ? "call:end" : ENDING[session.role];
      if (session.id !== null) call(ending, { callId: session.id }).catch(() => {});
      teardown(session);
      session = null;
    }
    config = null;
    peer = null;
    for (const id of [...missed.keys()]) dismissMissed(id, { markRead: false });
    $("wallet").hidden = true;
    $("call-outcome").hidden = true;
    render();
  }

  function showRoom(room) {
    const others = (room?.members || []).filter((member) => member.id !== me()?.id);
    peer = room?.kind === "direct" && others.length === 1 ? others[0] : null;
    renderButtons();
  }

  async function loadConfig() {
    if (config) return config;
    try {
      config = { ...DEFAULT_CONFIG, ...(await api("GET", "/api/calls/config")) };
    } catch {
      return DEFAULT_CONFIG; // asked again at the next call
    }
    renderButtons();
    return config;
  }

  async function loadWallet() {
    // Coins are optional: a server without the wallet (or an error) shows no balance.
    try {
      showBalance((await api("GET", "/api/wallet")).balance);
    } catch {
      $("wallet").hidden = true;
    }
  }

  function showBalance(balance) {
    if (typeof balance !== "number") return;
    $("wallet-balance").textContent = coins(balance);
    $("wallet").hidden = false;
  }

  // -------------------------------------------------------------------------------------
  // Socket events

  function attach(socket) {
    socket.on("call:incoming", onIncoming);
    socket.on("call:accepted", (event) => forSession(event, onAccepted));
    socket.on("call:answered-elsewhere", (event) =>
      forSession(event, () => finish("answered-elsewhere", "Answered on another device")),
    );
    socket.on("call:rejected", (event) =>
      forSession(event, () =>
        // The receiver's own devices stop ringing quietly; the caller is told.
        session.role === "caller"
          ? finish("rejected", `${displayName(session.other)} declined the call`)
          : finish(null),
      ),
    );
    socket.on("call:cancelled", (event) => forSession(event, () => finish(null)));
    socket.on("call:busy", (event) =>
      forSession(event, () => finish("busy", `${displayName(session.other)} is busy`)),
    );
    socket.on("call:missed", (event) => {
      if (event.receiverId === me()?.id) addMissed(event);
      forSession(event, () =>
        session.role === "caller"
          ? finish("missed", `${displayName(session.other)} did not answer`)
          : finish(null),
      );
    });
    socket.on("call:ended", (event) => {
      forSession(event, () => onEnded(event));
      loadWallet(); // charged in the transaction that ended the call, before this event
    });
    socket.on("call:signal", (event) => forSession(event, () => queueSignal(event.signal)));
    socket.on("call:balance-low", (event) => {
      showBalance(event.balance);
      forSession(event, () => {
        const left = Number.isFinite(event.secondsLeft)
          ? `, about ${formatDuration(event.secondsLeft)} of call left`
          : "";
        session.warning = `Low balance: ${coins(event.balance)}${left}`;
        render();
      });
    });
    // Missed calls also come as notifications: live, and the unread ones after a connect
    // (a call missed while this page was closed).
    socket.on("notification:new", (note) => {
      if (note.kind === "missed_call") addMissedNotification(note);
    });
    socket.on("notifications:pending", (notes) => {
      for (const note of notes || [])
        if (note.kind === "missed_call" && !note.readAt) addMissedNotification(note);
    });
  }

  function forSession(event, handle) {
    // Only events of the call this page is in; a second tab of the same user ignores the
    // calls of the first.
    if (!session) return;
    if (session.id === null) {
      // call:initiate's ack is on its way: its call's events may come first.
      session.early.push(() => forSession(event, handle));
      return;
    }
    if (callIdOf(event) === session.id) handle(event);
  }

  // -------------------------------------------------------------------------------------
  // Calling (the caller's side)

  async function startCall(callType) {
    if (session || !peer) return;
    const current = newSession("caller", callType, peer);
    session = current; // at once: a second click starts nothing
    $("call-outcome").hidden = true;
    render();
    if ((await loadConfig()).media !== "webrtc") {
      finish(null);
      return notice("This server's calls need the Agora SDK, which this page does not include");
    }
    if (session !== current) return; // cancelled meanwhile
    try {
      // Camera and microphone first: a refused permission stops the call before it rings.
      current.local = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: callType === "video",
      });
      if (session !== current) return stopTracks(current.local); // cancelled meanwhile
      const answer = await call("call:initiate", { receiverId: current.other.id, callType });
      current.id = callIdOf(answer);
      current.call = answer;
      if (current.cancelled) {
        call("call:cancel", { callId: current.id }).catch(() => {});
        return;
      }
      if (answer.status === "busy") return finish("busy", `${displayName(current.other)} is busy`);
      current.phase = "outgoing";
      render();
      for (const replay of current.early.splice(0)) replay();
    } catch (error) {
      if (session !== current) return;
      finish(null);
      notice(`Could not call ${displayName(current.other)}: ${error.message}`);
    }
  }

  async function cancelCall() {
    const current = session;
    if (!current || current.role !== "caller") return;
    if (current.id === null) {
      // Not ringing yet: cancelled once the ack names the call (startCall).
      current.cancelled = true;
      return finish(null);
    }
    try {
      await call("call:cancel", { callId: current.id });
      if (session === current) finish(null);
    } catch (error) {
      notice(`Could not cancel the call: ${error.message}`);
    }
  }

  async function onAccepted(event) {
    // Only now the peer connection and the offer: after the answer, the caller's signals
    // reach the one device that accepted (docs/protocol.md), not every ringing one.
    const current = session;
    if (current.role !== "caller" || current.phase !== "outgoing") return;
    current.call = event;
    current.phase = "active";
    openPeerConnection(current);
    render();
    try {
      const offer = await current.pc.createOffer();
      await current.pc.setLocalDescription(offer);
      sendSignal(current, { type: "offer", sdp: current.pc.localDescription.sdp });
    } catch (error) {
      notice(`Could not start the call: ${error.message}`);
    }
  }

  // -------------------------------------------------------------------------------------
  // Being called (the receiver's side)

  function onIncoming(event) {
    // One call at a time: the server answers "busy" for a user already in one, so this is a
    // late event from a call that ended meanwhile.
    if (session) return;
    const current = newSession("receiver", event.callType, event.caller);
    current.id = callIdOf(event);
    current.call = event;
    current.phase = "incoming";
    session = current;
    $("call-outcome").hidden = true;
    render();
    loadConfig();
  }

  async function acceptCall() {
    const current = session;
    if (!current || current.phase !== "incoming") return;
    current.phase = "accepting";
    render();
    const settings = await loadConfig();
    if ((current.call.media ?? settings.media) !== "webrtc") {
      notice("This server's calls need the Agora SDK, which this page does not include");
      current.phase = "incoming";
      return render();
    }
    try {
      current.local = await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: current.callType === "video",
      });
    } catch (error) {
      // Still worth answering: the other side can be seen and heard.
      notice(`No camera or microphone (${error.message}): the other side will not see or hear you`);
    }
    if (session !== current) return stopTracks(current.local); // cancelled meanwhile
    // Ready before the accept: the offer may come right behind the ack.
    openPeerConnection(current);
    try {
      current.call = await call("call:accept", { callId: current.id });
      if (session !== current) return;
      current.phase = "active";
      render();
    } catch (error) {
      if (session === current) finish(null);
      notice(`Could not accept the call: ${error.message}`);
    }
  }

  async function rejectCall() {
    const current = session;
    if (!current || current.phase !== "incoming") return;
    try {
      await call("call:reject", { callId: current.id });
    } catch (error) {
      notice(`Could not reject the call: ${error.message}`);
    }
    if (session === current) finish(null);
  }

  // -------------------------------------------------------------------------------------
  // In the call

  async function hangUp() {
    const current = session;
    if (!current) return;
    try {
      const ended = await call("call:end", { callId: current.id });
      if (session === current) onEnded(ended);
    } catch (error) {
      // Most likely it ended meanwhile (conflict): its call:ended is on the way or came.
      if (session === current) finish("ended", "Call ended");
      notice(`Could not end the call: ${error.message}`);
    }
  }

  function onEnded(event) {
    const reason = event.reason ?? event.endReason;
    const parts = [`Call with ${displayName(session.other)} ended`];
    parts.push(formatDuration(event.duration ?? 0));
    if ((event.pricePerMinute ?? 0) > 0 || (event.cost ?? 0) > 0)
      parts.push(`${coins(event.cost ?? 0)} for ${formatDuration(event.billedSeconds ?? 0)}`);
    if (reason === "insufficient_funds") parts.push("the caller ran out of coins");
    else if (reason === "dropped") parts.push("the connection was lost");
    const outcome = reason === "insufficient_funds" ? "insufficient_funds" : "ended";
    finish(outcome, parts.join(" · "));
  }

  function toggleTrack(kind) {
    const track = session?.local?.getTracks().find((candidate) => candidate.kind === kind);
    if (!track) return;
    track.enabled = !track.enabled;
    render();
  }

  // -------------------------------------------------------------------------------------
  // WebRTC

  function newSession(role, callType, other) {
    return {
      id: null, // the call's id, once known (the caller: from call:initiate's ack)
      call: null, // the latest call payload
      role,
      callType,
      other, // the other participant (a user shape)
      phase: "starting", // starting | outgoing | incoming | accepting | active
      local: null, // this side's camera and microphone
      remote: new MediaStream(), // the other side's tracks, as they arrive
      pc: null,
      candidates: [], // ICE candidates that came before the remote description
      signals: Promise.resolve(), // incoming signals, handled one after the other
      inbox: [], // signals that came before the peer connection existed
      early: [], // events that came before the call's id was known
      cancelled: false,
      warning: "",
      clock: null,
    };
  }

  function openPeerConnection(current) {
    const pc = new RTCPeerConnection({ iceServers: (config || DEFAULT_CONFIG).iceServers });
    current.pc = pc;
    // Without devices (a receiver who answered anyway) nothing is added: the offer's own
    // media sections still bring the caller's tracks, answered receive-only.
    for (const track of current.local?.getTracks() || []) pc.addTrack(track, current.local);
    pc.addEventListener("icecandidate", (event) => {
      if (event.candidate) sendSignal(current, { type: "candidate", candidate: event.candidate });
    });
    pc.addEventListener("track", (event) => {
      if (!current.remote.getTracks().includes(event.track)) current.remote.addTrack(event.track);
      const video = $("call-remote-video");
      // Assigned again so the element picks up a track added to a stream it already plays.
      video.srcObject = null;
      video.srcObject = current.remote;
    });
    pc.addEventListener("connectionstatechange", () => {
      if (session === current) render();
    });
    for (const signal of current.inbox.splice(0)) queueSignal(signal);
  }

  function sendSignal(current, signal) {
    // JSON of an RTCIceCandidate is its {candidate, sdpMid, sdpMLineIndex, usernameFragment}.
    const payload = JSON.parse(JSON.stringify(signal));
    call("call:signal", { callId: current.id, signal: payload }).catch((error) => {
      if (session === current) notice(`Call signaling failed: ${error.message}`);
    });
  }

  function queueSignal(signal) {
    const current = session;
    current.signals = current.signals
      .then(() => handleSignal(current, signal))
      .catch((error) => {
        if (session === current) notice(`Call setup failed: ${error.message}`);
      });
  }

  async function handleSignal(current, signal) {
    if (session !== current || !signal || typeof signal !== "object") return;
    const pc = current.pc;
    if (!pc) return void current.inbox.push(signal);
    if (signal.type === "offer") {
      await pc.setRemoteDescription({ type: "offer", sdp: signal.sdp });
      await addCandidates(current);
      await pc.setLocalDescription(await pc.createAnswer());
      sendSignal(current, { type: "answer", sdp: pc.localDescription.sdp });
    } else if (signal.type === "answer") {
      await pc.setRemoteDescription({ type: "answer", sdp: signal.sdp });
      await addCandidates(current);
    } else if (signal.type === "candidate" && signal.candidate) {
      // A candidate needs the remote description it belongs to: kept until it is set.
      current.candidates.push(signal.candidate);
      if (pc.remoteDescription) await addCandidates(current);
    }
  }

  async function addCandidates(current) {
    for (const candidate of current.candidates.splice(0))
      await current.pc.addIceCandidate(candidate);
  }

  function teardown(current) {
    clearInterval(current.clock);
    current.pc?.close();
    stopTracks(current.local);
    stopTracks(current.remote);
    // The closed connection's own state: "closed".
    $("call-view").dataset.connectionState = current.pc?.connectionState || "closed";
    for (const video of [$("call-local-video"), $("call-remote-video")]) video.srcObject = null;
  }

  function finish(outcome, text) {
    // The call is over for this page: release everything, then say how it ended (if it is
    // worth saying: not to the one who rejected or cancelled it).
    if (!session) return;
    teardown(session);
    session = null;
    const box = $("call-outcome");
    box.hidden = !text;
    box.dataset.outcome = outcome || "";
    $("call-outcome-text").textContent = text || "";
    render();
  }

  // -------------------------------------------------------------------------------------
  // Missed calls

  function addMissed(event) {
    const id = callIdOf(event);
    const caller = event.caller || event.from;
    if (missed.has(id)) return missed.get(id);
    const when = new Date(event.endedAt || event.createdAt || Date.now());
    const time = when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const item = el("li", "missed-call");
    item.dataset.callId = id;
    const kind = event.callType === "audio" ? "audio" : "video";
    const entry = { node: item, notificationId: null };
    const dismiss = button("link dismiss", "Dismiss", () => dismissMissed(id, { markRead: true }));
    item.append(el("span", "missed-text", `Missed ${kind} call from ${displayName(caller)}`));
    item.append(el("time", "missed-time", time), dismiss);
    missed.set(id, entry);
    $("missed-calls").append(item);
    render();
    return entry;
  }

  function addMissedNotification(note) {
    const payload = note.payload || {};
    if (payload.callId === undefined) return;
    const entry = addMissed({ ...payload, createdAt: note.createdAt });
    entry.notificationId = note.id;
  }

  function dismissMissed(id, { markRead }) {
    const entry = missed.get(id);
    if (!entry) return;
    missed.delete(id);
    entry.node.remove();
    if (markRead && entry.notificationId !== null)
      call("notifications:read", { ids: [entry.notificationId] }).catch(() => {});
    render();
  }

  // -------------------------------------------------------------------------------------
  // Rendering

  function renderButtons() {
    const unsupported = config !== null && config.media !== "webrtc";
    $("call-buttons").hidden = peer === null;
    for (const id of ["call-audio", "call-video"]) {
      const control = $(id);
      control.disabled = session !== null || unsupported;
      control.title = unsupported
        ? "Calls on this server need the Agora SDK, which this page does not include"
        : `${id === "call-audio" ? "Audio" : "Video"} call ${peer ? displayName(peer) : ""}`;
    }
  }

  function render() {
    const phase = session?.phase;
    const name = session ? displayName(session.other) : "";
    const kind = session?.callType === "audio" ? "audio" : "video";

    $("call-incoming").hidden = phase !== "incoming" && phase !== "accepting";
    $("call-incoming-text").textContent = `${name} is calling you (${kind} call)`;
    $("call-accept").disabled = phase === "accepting";
    $("call-reject").disabled = phase === "accepting";

    $("call-outgoing").hidden = phase !== "starting" && phase !== "outgoing";
    $("call-outgoing-text").textContent = `Calling ${name}…`;

    const view = $("call-view");
    view.hidden = phase !== "active";
    if (phase === "active") renderActive(view, name, kind);

    $("missed-calls").hidden = missed.size === 0;
    const panel = $("call-panel");
    panel.hidden = [...panel.children].every((child) => child.hidden);
    renderButtons();
  }

  function renderActive(view, name, kind) {
    const current = session;
    const state = current.pc?.connectionState || "new";
    view.dataset.connectionState = state;
    view.dataset.callType = kind;
    $("call-peer").textContent = name;
    $("call-connection").textContent = CONNECTION_LABELS[state] || "connecting…";
    const local = $("call-local-video");
    local.hidden = kind !== "video";
    if (kind === "video" && local.srcObject !== current.local) local.srcObject = current.local;
    $("call-audio-peer").hidden = kind === "video";
    $("call-audio-peer").textContent = `Audio call with ${name}`;
    $("call-remote-video").hidden = kind !== "video";

    const audio = current.local?.getAudioTracks()[0];
    const mute = $("call-mute");
    mute.disabled = !audio;
    mute.textContent = audio && !audio.enabled ? "Unmute" : "Mute";
    mute.setAttribute("aria-pressed", String(Boolean(audio && !audio.enabled)));
    const video = current.local?.getVideoTracks()[0];
    const camera = $("call-camera");
    camera.hidden = kind !== "video";
    camera.disabled = !video;
    camera.textContent = video && !video.enabled ? "Camera on" : "Camera off";
    camera.setAttribute("aria-pressed", String(Boolean(video && !video.enabled)));

    const warning = $("call-warning");
    warning.hidden = !current.warning;
    warning.textContent = current.warning;
    if (current.clock === null && current.call?.answeredAt) {
      current.clock = setInterval(() => session === current && renderClock(current), 1000);
    }
    renderClock(current);
  }

  function renderClock(current) {
    const answeredAt = current.call?.answeredAt;
    const seconds = answeredAt ? Math.max(0, (Date.now() - Date.parse(answeredAt)) / 1000) : 0;
    $("call-duration").textContent = formatDuration(seconds);
    const price = current.call?.pricePerMinute ?? 0;
    const cost = $("call-cost");
    cost.hidden = !(price > 0);
    if (price > 0) {
      const billing = (config || DEFAULT_CONFIG).billing;
      const label = current.role === "caller" ? "Cost so far" : "Caller pays so far";
      cost.textContent = `${label}: ${coins(costSoFar(seconds, price, billing))}`;
    }
  }

  // -------------------------------------------------------------------------------------
  // Wiring

  $("call-audio").addEventListener("click", () => startCall("audio"));
  $("call-video").addEventListener("click", () => startCall("video"));
  $("call-cancel").addEventListener("click", cancelCall);
  $("call-accept").addEventListener("click", acceptCall);
  $("call-reject").addEventListener("click", rejectCall);
  $("call-hangup").addEventListener("click", hangUp);
  $("call-mute").addEventListener("click", () => toggleTrack("audio"));
  $("call-camera").addEventListener("click", () => toggleTrack("video"));
  $("call-outcome-close").addEventListener("click", () => {
    $("call-outcome").hidden = true;
    render();
  });

  return { attach, showRoom, start, stop };
}
