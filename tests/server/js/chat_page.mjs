// Loads realizar's chat page (GET /) in headless Chromium, types a question, waits for the streamed answer,
// and takes a screenshot. Drives Chromium over the DevTools protocol with Node's own WebSocket client
// (node --experimental-websocket; no npm packages).
// Usage: node --experimental-websocket chat_page.mjs http://127.0.0.1:PORT/ SCREENSHOT.png PROFILE_DIR
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";

const [url, screenshot, profile] = process.argv.slice(2);
const chromium = process.env.RZ_CHROMIUM || "/usr/bin/chromium";
const chrome = spawn(chromium, [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage", `--user-data-dir=${profile}`, "--remote-debugging-port=0",
  "--window-size=1000,800", "about:blank",
], { stdio: ["ignore", "ignore", "pipe"] });

let finished = false;
function done(code, msg) {
  if (finished) return;
  finished = true;
  if (msg) (code ? console.error : console.log)(msg);
  try { chrome.kill("SIGKILL"); } catch (e) {}
  process.exit(code);
}
process.on("SIGTERM", () => done(3, "killed"));
setTimeout(() => done(2, "chat page test: timed out after 60 s"), 60000).unref();

// Chromium prints "DevTools listening on ws://..." on stderr.
const wsUrl = await new Promise((resolve, reject) => {
  let err = "";
  chrome.stderr.on("data", (d) => {
    err += d.toString();
    const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
    if (m) resolve(m[1]);
  });
  chrome.on("exit", (c) => reject(new Error(`chromium exited (${c}): ${err}`)));
}).catch((e) => done(1, e.message));

const ws = new WebSocket(wsUrl);
await new Promise((r, j) => { ws.onopen = r; ws.onerror = () => j(new Error("websocket error")); });
let nextId = 1;
const pending = new Map();
ws.onmessage = (ev) => {
  const m = JSON.parse(ev.data);
  if (m.id && pending.has(m.id)) {
    const { resolve, reject } = pending.get(m.id);
    pending.delete(m.id);
    m.error ? reject(new Error(JSON.stringify(m.error))) : resolve(m.result);
  }
};
function send(method, params = {}, sessionId) {
  const id = nextId++;
  ws.send(JSON.stringify({ id, method, params, sessionId }));
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

try {
  const { targetId } = await send("Target.createTarget", { url: "about:blank" });
  const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true });
  const evaluate = async (expr) =>
    (await send("Runtime.evaluate", { expression: expr, returnByValue: true }, sessionId)).result.value;
  await send("Page.navigate", { url }, sessionId);
  const loaded = `document.readyState === "complete" && location.href === ${JSON.stringify(url)}`;
  for (let i = 0; i < 200 && !(await evaluate(loaded)); i++) await sleep(50);
  const title = await evaluate("document.title");
  if (title !== "realizar chat") throw new Error(`unexpected page title: ${title}`);

  // Type the question like a user and press Enter.
  const question = "Tell me a story about a cat.";
  await evaluate("document.getElementById('input').focus()");
  await send("Input.insertText", { text: question }, sessionId);
  await send("Input.dispatchKeyEvent", { type: "keyDown", key: "Enter", code: "Enter", windowsVirtualKeyCode: 13 }, sessionId);
  await send("Input.dispatchKeyEvent", { type: "keyUp", key: "Enter", code: "Enter", windowsVirtualKeyCode: 13 }, sessionId);

  const read = () => evaluate(`JSON.stringify([...document.querySelectorAll('.msg')].map(d => ({
      cls: d.className, state: d.getAttribute('data-state') || '', text: d.textContent })))`);
  let msgs = [];
  for (let i = 0; i < 600; i++) {
    msgs = JSON.parse(await read());
    const last = msgs[msgs.length - 1];
    if (last && last.cls.includes("assistant") && last.state === "done") break;
    if (last && last.cls.includes("error")) break;
    await sleep(50);
  }
  const shot = await send("Page.captureScreenshot", { format: "png" }, sessionId);
  writeFileSync(screenshot, Buffer.from(shot.data, "base64"));

  const user = msgs.find((m) => m.cls.includes("user"));
  const answer = msgs.find((m) => m.cls.includes("assistant"));
  if (!user || user.text !== question) throw new Error(`question not shown: ${JSON.stringify(msgs)}`);
  if (!answer || answer.state !== "done") throw new Error(`no finished answer: ${JSON.stringify(msgs)}`);
  if (!/\d+ tokens/.test(answer.text)) throw new Error(`no stats line: ${answer.text}`);
  const body = answer.text.replace(/\d+ tokens,.*$/s, "");
  if (body.trim().length === 0) throw new Error("empty answer");
  console.log(JSON.stringify({ question, answer: body }));
  await send("Browser.close").catch(() => {});
  // Let Chromium shut down and close its profile before the caller removes it (at most 5 s, then SIGKILL in done).
  await new Promise((r) => {
    if (chrome.exitCode !== null || chrome.signalCode !== null) return r();
    chrome.on("exit", r);
    setTimeout(r, 5000).unref();
  });
  done(0, "chat page: ok");
} catch (e) {
  done(1, `chat page test failed: ${e.message}`);
}
