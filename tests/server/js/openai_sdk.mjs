// Drives a running `realizar serve` with the official OpenAI Node SDK: chat and completions, streamed and
// not, plus an error. Usage: node openai_sdk.mjs http://127.0.0.1:PORT/v1   (exit code 0 = all checks passed)
import assert from "node:assert/strict";
import OpenAI from "openai";

const baseURL = process.argv[2];
const client = new OpenAI({ baseURL, apiKey: process.env.RZ_API_KEY || "unused", maxRetries: 0, timeout: 60000 });

const models = await client.models.list();
assert.equal(models.data.length, 1);
const model = models.data[0].id;

// Chat, not streamed.
const chat = await client.chat.completions.create({
  model,
  messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: "Tell me a story." }],
  max_tokens: 24,
  temperature: 0,
});
assert.equal(chat.object, "chat.completion");
assert.equal(chat.choices.length, 1);
assert.equal(chat.choices[0].message.role, "assistant");
assert.equal(typeof chat.choices[0].message.content, "string");
assert.ok(["stop", "length"].includes(chat.choices[0].finish_reason));
assert.ok(chat.usage.prompt_tokens > 0);
assert.ok(chat.usage.completion_tokens > 0 && chat.usage.completion_tokens <= 24);

// Chat, streamed: the deltas add up to the same greedy answer; usage arrives in the last chunk.
const stream = await client.chat.completions.create({
  model,
  messages: [{ role: "system", content: "You tell stories." }, { role: "user", content: "Tell me a story." }],
  max_tokens: 24,
  temperature: 0,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
let finish = null;
let usage = null;
let chunks = 0;
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  const c = chunk.choices[0];
  if (!c) continue;
  if (c.delta.content) streamed += c.delta.content;
  if (c.finish_reason) finish = c.finish_reason;
}
assert.ok(chunks >= 3, `only ${chunks} chunks`);
assert.equal(streamed, chat.choices[0].message.content);
assert.equal(finish, chat.choices[0].finish_reason);
assert.equal(usage.completion_tokens, chat.usage.completion_tokens);

// Completions, not streamed and streamed (same greedy text).
const comp = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 32, temperature: 0 });
assert.equal(comp.object, "text_completion");
assert.ok(comp.choices[0].text.startsWith(", there was a little girl named Lily."), comp.choices[0].text);
const cstream = await client.completions.create({
  model, prompt: "Once upon a time", max_tokens: 32, temperature: 0, stream: true,
});
let ctext = "";
for await (const chunk of cstream) ctext += chunk.choices[0]?.text ?? "";
assert.equal(ctext, comp.choices[0].text);

// Seeded sampling is reproducible.
const s1 = await client.completions.create({ model, prompt: "Lily", max_tokens: 16, temperature: 0.9, seed: 7 });
const s2 = await client.completions.create({ model, prompt: "Lily", max_tokens: 16, temperature: 0.9, seed: 7 });
assert.equal(s1.choices[0].text, s2.choices[0].text);

// Errors surface as the SDK's typed errors with our message.
await assert.rejects(
  client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], n: 2 }),
  (err) => err instanceof OpenAI.BadRequestError && err.status === 400 && /n must be 1/.test(err.message),
);

console.log("openai sdk: all checks passed");
