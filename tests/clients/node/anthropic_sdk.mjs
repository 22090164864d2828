// The official Anthropic Node SDK against the gateway's /v1/messages. Usage: node anthropic_sdk.mjs CASE
// Reads SLUICE_ROOT_URL (the gateway without /v1), SLUICE_API_KEY, SLUICE_MODEL; prints one JSON object.
import Anthropic from "@anthropic-ai/sdk";

const client = new Anthropic({
  baseURL: process.env.SLUICE_ROOT_URL,
  apiKey: process.env.SLUICE_API_KEY,
  maxRetries: 0,
  timeout: 20_000,
});
const model = process.env.SLUICE_MODEL;
const messages = [{ role: "user", content: "Say something about rivers." }];

const cases = {
  async create() {
    const m = await client.messages.create({ model, max_tokens: 64, system: "Be brief.", messages });
    return { id: m.id, type: m.type, role: m.role, model: m.model, stop_reason: m.stop_reason,
             content_types: m.content.map((b) => b.type), text: m.content.filter((b) => b.type === "text").map((b) => b.text).join(""),
             usage: m.usage };
  },
  async blocks() {
    // Two text blocks in one user turn (what Claude Code sends): both must reach the model.
    const m = await client.messages.create({ model, max_tokens: 64, messages: [{ role: "user", content: [
      { type: "text", text: "First block: rivers." }, { type: "text", text: "Second block: mountains." }] }] });
    return { text: m.content.filter((b) => b.type === "text").map((b) => b.text).join("") };
  },
  async stream() {
    const stream = client.messages.stream({ model, max_tokens: 64, messages });
    const deltas = [];
    const events = new Set();
    stream.on("text", (t) => deltas.push(t));
    stream.on("streamEvent", (e) => events.add(e.type));
    const final = await stream.finalMessage();
    return { deltas: deltas.length, text: deltas.join(""), events: [...events].sort(), stop_reason: final.stop_reason,
             usage: final.usage, model: final.model };
  },
  async count_tokens() {
    const r = await client.messages.countTokens({ model, messages });
    return r;
  },
  async unknown_model() {
    try {
      await client.messages.create({ model: "no-such-model", max_tokens: 16, messages });
      return { raised: false };
    } catch (e) {
      return { raised: true, class: e.constructor.name, status: e.status ?? null,
               is_not_found: e instanceof Anthropic.NotFoundError, error_type: e.error?.error?.type ?? null,
               message: e.message };
    }
  },
};

const name = process.argv[2];
if (!(name in cases)) {
  console.error(`unknown case ${name}; one of ${Object.keys(cases).join(", ")}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify({ case: name, node: process.version, result: await cases[name]() }));
} catch (e) {
  console.log(JSON.stringify({ case: name, node: process.version, error: String(e?.stack ?? e), status: e?.status ?? null }));
  process.exit(1);
}
