// The official openai Node SDK against the gateway. Usage: node openai_sdk.mjs CASE
// Reads SLUICE_BASE_URL (the gateway's /v1), SLUICE_API_KEY, SLUICE_MODEL, SLUICE_EMBED_MODEL;
// prints one JSON object on stdout (what the Python test asserts on) and exits 0, or 1 on a failure.
import OpenAI from "openai";

const client = new OpenAI({
  baseURL: process.env.SLUICE_BASE_URL,
  apiKey: process.env.SLUICE_API_KEY,
  maxRetries: 0,
  timeout: 20_000,
});
const model = process.env.SLUICE_MODEL;
const messages = [{ role: "user", content: "Say something about rivers." }];

const cases = {
  async chat() {
    const r = await client.chat.completions.create({ model, messages });
    return {
      id: r.id, object: r.object, model: r.model,
      content: r.choices[0].message.content, role: r.choices[0].message.role,
      finish_reason: r.choices[0].finish_reason, usage: r.usage,
    };
  },
  async chat_raw() {
    // withResponse: the SDK's typed result plus the HTTP response (headers the gateway adds).
    const { data, response } = await client.chat.completions.create({ model, messages }).withResponse();
    return { content: data.choices[0].message.content, status: response.status,
             headers: Object.fromEntries(response.headers.entries()) };
  },
  async stream() {
    const stream = await client.chat.completions.create({
      model, messages, stream: true, stream_options: { include_usage: true },
    });
    let text = "", chunks = 0, usage = null, finish = null, usageChunkChoices = null, model_ = null;
    for await (const chunk of stream) {
      chunks += 1;
      model_ = chunk.model ?? model_;
      if (chunk.usage) { usage = chunk.usage; usageChunkChoices = chunk.choices.length; }
      for (const c of chunk.choices) {
        text += c.delta?.content ?? "";
        if (c.finish_reason) finish = c.finish_reason;
      }
    }
    return { text, chunks, usage, finish_reason: finish, usage_chunk_choices: usageChunkChoices, model: model_ };
  },
  async stream_helper() {
    // The SDK's higher-level stream helper: accumulates the deltas into a final completion.
    const runner = client.chat.completions.stream({ model, messages, stream_options: { include_usage: true } });
    const deltas = [];
    runner.on("content", (delta) => deltas.push(delta));
    const final = await runner.finalChatCompletion();
    return { deltas: deltas.length, content: final.choices[0].message.content, usage: final.usage ?? null };
  },
  async unknown_model() {
    try {
      await client.chat.completions.create({ model: "no-such-model", messages });
      return { raised: false };
    } catch (e) {
      return {
        raised: true, class: e.constructor.name,
        is_not_found: e instanceof OpenAI.NotFoundError, is_api_error: e instanceof OpenAI.APIError,
        status: e.status ?? null, code: e.code ?? null, type: e.type ?? null, param: e.param ?? null,
        message: e.message,
      };
    }
  },
  async bad_key() {
    const c = new OpenAI({ baseURL: process.env.SLUICE_BASE_URL, apiKey: "sk-not-a-key", maxRetries: 0 });
    try {
      await c.chat.completions.create({ model, messages });
      return { raised: false };
    } catch (e) {
      return { raised: true, class: e.constructor.name, status: e.status ?? null,
               is_auth: e instanceof OpenAI.AuthenticationError, type: e.type ?? null, code: e.code ?? null };
    }
  },
  async embeddings() {
    const r = await client.embeddings.create({
      model: process.env.SLUICE_EMBED_MODEL, input: ["a river", "a mountain"],
    });
    return { object: r.object, n: r.data.length, dims: r.data.map((d) => d.embedding.length),
             index: r.data.map((d) => d.index), finite: r.data.every((d) => d.embedding.every(Number.isFinite)),
             usage: r.usage, model: r.model };
  },
  async embeddings_base64() {
    // The SDK asks for base64 by default when no encoding_format is given, then decodes to floats.
    const r = await client.embeddings.create({ model: process.env.SLUICE_EMBED_MODEL, input: "a river" });
    return { n: r.data.length, dims: r.data[0].embedding.length, first_is_number: typeof r.data[0].embedding[0] === "number" };
  },
  async models() {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    return { ids };
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
