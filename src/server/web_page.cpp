// GET /: a small self-contained chat page (no external scripts, styles or fonts) that talks to
// /v1/chat/completions with stream: true and shows the answer as it arrives.
#include "server/state.h"

namespace rz::server {

namespace {

constexpr const char* kChatPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>realizar chat</title>
<style>
  :root { --bg:#f6f7f9; --fg:#1d2330; --muted:#6b7385; --user:#dbeafe; --bot:#ffffff; --accent:#2457d6; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg); color:var(--fg);
         display:flex; flex-direction:column; height:100vh; }
  header { padding:10px 16px; border-bottom:1px solid #dde1e8; display:flex; gap:12px; align-items:center; background:#fff; }
  header h1 { font-size:16px; margin:0; }
  header .model { color:var(--muted); font-size:13px; }
  header label { font-size:13px; color:var(--muted); margin-left:auto; }
  header input { width:70px; }
  #messages { flex:1; overflow-y:auto; padding:16px; display:flex; flex-direction:column; gap:10px; }
  .msg { max-width:780px; padding:10px 14px; border-radius:10px; white-space:pre-wrap; word-wrap:break-word; }
  .user { align-self:flex-end; background:var(--user); }
  .assistant { align-self:flex-start; background:var(--bot); border:1px solid #e3e6ec; }
  .error { align-self:center; color:#a11; }
  .stats { font-size:12px; color:var(--muted); margin-top:4px; }
  form { display:flex; gap:8px; padding:12px 16px; border-top:1px solid #dde1e8; background:#fff; }
  textarea { flex:1; resize:none; height:52px; padding:8px; font:inherit; border:1px solid #c9ced8; border-radius:8px; }
  button { padding:0 18px; border:0; border-radius:8px; background:var(--accent); color:#fff; font:inherit; cursor:pointer; }
  button:disabled { opacity:.5; cursor:default; }
  #keyrow { display:none; padding:8px 16px; background:#fff4e5; }
</style>
</head>
<body>
<header>
  <h1>realizar</h1><span class="model" id="model"></span>
  <label>max tokens <input id="max_tokens" type="number" min="1" value="128"></label>
  <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0"></label>
  <button type="button" id="clear">Clear</button>
</header>
<div id="keyrow">This server needs an API key: <input id="apikey" type="password" size="40"></div>
<div id="messages"></div>
<form id="form">
  <textarea id="input" placeholder="Type a message (Enter to send, Shift+Enter for a new line)"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];
let busy = false;

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("apikey").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  div.textContent = text;
  $("messages").appendChild(div);
  $("messages").scrollTop = $("messages").scrollHeight;
  return div;
}

async function loadModel() {
  try {
    const r = await fetch("/v1/models", { headers: headers() });
    if (r.status === 401) { $("keyrow").style.display = "block"; return; }
    const j = await r.json();
    if (j.data && j.data.length) $("model").textContent = j.data[0].id;
  } catch (e) { /* the page still works; the model name is cosmetic */ }
}

async function send(text) {
  busy = true;
  $("send").disabled = true;
  history.push({ role: "user", content: text });
  addMessage("user", text);
  const out = addMessage("assistant", "");
  out.setAttribute("data-state", "streaming");
  const started = performance.now();
  let answer = "", tokens = 0, firstAt = 0, finish = "";
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({ messages: history, stream: true,
                             max_tokens: parseInt($("max_tokens").value, 10) || 128,
                             temperature: parseFloat($("temperature").value) || 0,
                             stream_options: { include_usage: true } })
    });
    if (!r.ok) {
      if (r.status === 401) $("keyrow").style.display = "block";
      let msg = "HTTP " + r.status;
      try { msg = (await r.json()).error.message; } catch (e) {}
      throw new Error(msg);
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let sep;
      while ((sep = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const j = JSON.parse(data);
          if (j.error) throw new Error(j.error.message);
          if (j.usage) tokens = j.usage.completion_tokens;
          const c = j.choices && j.choices[0];
          if (!c) continue;
          if (c.delta && c.delta.content) {
            if (!firstAt) firstAt = performance.now();
            answer += c.delta.content;
            out.textContent = answer;
            $("messages").scrollTop = $("messages").scrollHeight;
          }
          if (c.finish_reason) finish = c.finish_reason;
        }
      }
    }
    history.push({ role: "assistant", content: answer });
    const secs = (performance.now() - started) / 1000;
    const stats = document.createElement("div");
    stats.className = "stats";
    stats.textContent = tokens + " tokens, " + (tokens / Math.max(secs, 1e-3)).toFixed(1) + " tok/s, first token " +
                        (firstAt ? ((firstAt - started) / 1000).toFixed(2) : "-") + " s, finish: " + finish;
    out.appendChild(stats);
    out.setAttribute("data-state", "done");
  } catch (e) {
    history.pop();
    out.remove();
    addMessage("error", "Error: " + e.message).setAttribute("data-state", "error");
  } finally {
    busy = false;
    $("send").disabled = false;
  }
}

$("form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("input").value.trim();
  if (!text || busy) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("form").requestSubmit(); }
});
$("clear").addEventListener("click", () => { history.length = 0; $("messages").innerHTML = ""; });
loadModel();
</script>
</body>
</html>
)HTML";

}  // namespace

void register_web_routes(HttpServer& http, ServerState&) {
    http.route("GET", "/", [](const HttpRequest&, HttpResponse& res) {
        res.status = 200;
        res.content_type = "text/html; charset=utf-8";
        res.body = kChatPage;
    });
}

}  // namespace rz::server
