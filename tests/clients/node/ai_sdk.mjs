// The Vercel AI SDK (ai + @ai-sdk/openai-compatible) against the gateway. Usage: node ai_sdk.mjs CASE
// Reads SLUICE_BASE_URL (the gateway's /v1), SLUICE_API_KEY, SLUICE_MODEL; prints one JSON object.
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { generateText, streamText } from "ai";

const sluice = createOpenAICompatible({
  name: "sluicegate",
  baseURL: process.env.SLUICE_BASE_URL,
  apiKey: process.env.SLUICE_API_KEY,
  includeUsage: true, // streaming: ask for stream_options.include_usage
});
const model = sluice(process.env.SLUICE_MODEL);
const prompt = "Say something about rivers.";

const cases = {
  async generate() {
    const r = await generateText({ model, prompt, maxRetries: 0 });
    return { text: r.text, finishReason: r.finishReason, usage: r.usage,
             modelId: r.response?.modelId ?? null, responseId: r.response?.id ?? null };
  },
  async stream() {
    const r = streamText({ model, prompt, maxRetries: 0, onError: () => {} });
    const parts = [];
    for await (const delta of r.textStream) parts.push(delta);
    return { text: parts.join(""), deltas: parts.length, finishReason: await r.finishReason,
             usage: await r.usage };
  },
  async unknown_model() {
    try {
      await generateText({ model: sluice("no-such-model"), prompt, maxRetries: 0 });
      return { raised: false };
    } catch (e) {
      return { raised: true, name: e.name ?? e.constructor.name, statusCode: e.statusCode ?? null,
               isRetryable: e.isRetryable ?? null, message: e.message };
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
  console.log(JSON.stringify({ case: name, node: process.version, error: String(e?.stack ?? e), statusCode: e?.statusCode ?? null }));
  process.exit(1);
}
