// An image message with node's official socket.io-client and node's own fetch/FormData:
// Alice uploads an image (multipart), sends it with send-message; Alice and Bob receive it;
// Bob downloads it with his token, Carol (not a member) and an anonymous caller cannot.
// Input: one JSON argument; output: one JSON line with what happened.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { io } from "socket.io-client";

const cfg = JSON.parse(process.argv[2]);
const opts = (token) => ({ auth: { token }, transports: ["websocket"], reconnection: false,
  timeout: 5000, forceNew: true });

const withTimeout = (promise, ms, what) => Promise.race([promise,
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms))]);

const connected = (socket) => withTimeout(new Promise((resolve, reject) => {
  socket.once("connect", resolve);
  socket.once("connect_error", reject);
}), 5000, "connect");

const received = (socket, event) =>
  withTimeout(new Promise((resolve) => socket.once(event, resolve)), 5000, event);

async function upload(token, path) {
  const form = new FormData();
  form.append("file", new Blob([await readFile(path)], { type: "image/jpeg" }), basename(path));
  const response = await fetch(`${cfg.url}/api/uploads`,
    { method: "POST", headers: { Authorization: `Bearer ${token}` }, body: form });
  return { status: response.status, body: await response.json() };
}

async function download(path, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(`${cfg.url}${path}`, { headers });
  const bytes = Buffer.from(await response.arrayBuffer());
  const result = { status: response.status, contentType: response.headers.get("content-type"),
    length: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
  if (result.contentType?.startsWith("application/json")) result.body = JSON.parse(bytes.toString());
  return result;
}

async function main() {
  const result = { upload: await upload(cfg.tokenA, cfg.imagePath) };
  if (result.upload.status !== 201) {
    console.log(JSON.stringify(result));
    process.exit(0);
  }
  const { id, url, thumbnailUrl } = result.upload.body;
  const a = io(cfg.url, opts(cfg.tokenA));
  const b = io(cfg.url, opts(cfg.tokenB));
  try {
    await Promise.all([connected(a), connected(b)]);
    const byBob = received(b, "message-received");
    const byAlice = received(a, "message-received");
    result.ack = await a.timeout(5000).emitWithAck("send-message",
      { roomId: cfg.roomId, content: cfg.caption, clientId: "node-photo-1", attachments: [id] });
    if (!result.ack.ok) {  // nothing will arrive: report the refusal
      console.log(JSON.stringify(result));
      process.exit(0);
    }
    result.receivedByBob = await byBob;
    result.receivedByAlice = await byAlice;
  } finally {
    a.close();
    b.close();
  }
  result.bobDownload = await download(url, cfg.tokenB);
  result.bobThumbnail = await download(thumbnailUrl, cfg.tokenB);
  result.carolDownload = await download(url, cfg.tokenC);
  result.anonymousDownload = await download(url, null);
  console.log(JSON.stringify(result));
  process.exit(0);  // pending timeout timers would keep node alive
}

main().catch((err) => { console.error(err); process.exit(1); });
