/**
 * Smoke files: the tool calls validation makes, with what each result must show.
 * {
 *   "calls": [
 *     { "tool": "echo", "arguments": { "message": "hi" },
 *       "expect": { "isError": false, "text": "hi", "json": [{ "path": "$.sum", "equals": 3 }] },
 *       "maxLatencyMs": 200 }
 *   ]
 * }
 * `text` is a substring of the joined text content, or a /regex/. `json` paths read structuredContent, else
 * the first text content parsed as JSON. `isError` defaults to false. `maxLatencyMs` is the call's own latency
 * limit (default: the gate's maximum latency), for a tool that is slow by design or must be fast.
 */
export interface SmokeCall {
  tool: string;
  arguments: Record<string, unknown>;
  expect: { isError: boolean; text?: string; json: { path: string; equals: unknown }[] };
  /** ms this call may take; absent: the gate's `maxLatencyMs`. */
  maxLatencyMs?: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; errors: string[] };

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validates a parsed smoke file; errors are `path: message`. */
export function parseSmokeFile(raw: unknown): Parsed<SmokeCall[]> {
  if (!isObj(raw) || !Array.isArray(raw.calls)) return { ok: false, errors: ['calls: must be an array of tool calls'] };
  const errors: string[] = [];
  const calls = raw.calls.map((c: unknown, i): SmokeCall => {
    const at = `calls[${i}]`;
    const o = isObj(c) ? c : {};
    if (!isObj(c)) errors.push(`${at}: must be an object`);
    if (typeof o.tool !== 'string' || o.tool === '') errors.push(`${at}.tool: must be a tool name`);
    if (o.arguments !== undefined && !isObj(o.arguments)) errors.push(`${at}.arguments: must be an object`);
    const e = o.expect === undefined ? {} : o.expect;
    if (!isObj(e)) errors.push(`${at}.expect: must be an object`);
    const ex = isObj(e) ? e : {};
    if (ex.isError !== undefined && typeof ex.isError !== 'boolean') errors.push(`${at}.expect.isError: must be true or false`);
    if (ex.text !== undefined && typeof ex.text !== 'string') errors.push(`${at}.expect.text: must be a string`);
    const limit = o.maxLatencyMs;
    if (limit !== undefined && !(typeof limit === 'number' && Number.isFinite(limit) && limit > 0)) errors.push(`${at}.maxLatencyMs: must be a positive number of milliseconds`);
    const json = ex.json === undefined ? [] : ex.json;
    if (!Array.isArray(json) || !json.every((j) => isObj(j) && typeof j.path === 'string' && j.path.startsWith('$'))) {
      errors.push(`${at}.expect.json: must be a list of { "path": "$...", "equals": value }`);
    }
    return {
      tool: String(o.tool),
      arguments: isObj(o.arguments) ? o.arguments : {},
      expect: {
        isError: ex.isError === true,
        ...(typeof ex.text === 'string' ? { text: ex.text } : {}),
        json: Array.isArray(json) ? (json as { path: string; equals: unknown }[]) : [],
      },
      ...(typeof limit === 'number' ? { maxLatencyMs: limit } : {}),
    };
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: calls };
}

/** Reads `$.a.b[0]`-style paths; undefined when the path does not exist. */
export function readPath(value: unknown, path: string): unknown {
  const parts = path.replace(/^\$/, '').match(/\.[^.[\]]+|\[\d+\]/g) ?? [];
  let cur = value;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = p.startsWith('[') ? (cur as unknown[])[Number(p.slice(1, -1))] : (cur as Record<string, unknown>)[p.slice(1)];
  }
  return cur;
}

/** Checks one call result against its expectations; returns the problems (empty when it meets them all). */
export function checkExpectations(call: SmokeCall, result: { isError?: boolean; content?: unknown[]; structuredContent?: unknown }): string[] {
  const problems: string[] = [];
  const isError = result.isError === true;
  const texts = (result.content ?? []).flatMap((c) => (isObj(c) && c.type === 'text' && typeof c.text === 'string' ? [c.text] : []));
  const text = texts.join('\n');
  if (isError !== call.expect.isError) problems.push(`isError is ${isError}, expected ${call.expect.isError}${isError ? ` (${text.slice(0, 200)})` : ''}`);
  const want = call.expect.text;
  if (want !== undefined) {
    const m = /^\/(.*)\/([a-z]*)$/.exec(want);
    const found = m ? new RegExp(m[1]!, m[2]).test(text) : text.includes(want);
    if (!found) problems.push(`text ${JSON.stringify(text.slice(0, 200))} does not match ${JSON.stringify(want)}`);
  }
  if (call.expect.json.length > 0) {
    let doc: unknown = result.structuredContent;
    if (doc === undefined) {
      try {
        doc = JSON.parse(texts[0] ?? '');
      } catch {
        problems.push('the result has no structuredContent and its text is not JSON');
        return problems;
      }
    }
    for (const j of call.expect.json) {
      const got = readPath(doc, j.path);
      if (JSON.stringify(got) !== JSON.stringify(j.equals)) problems.push(`${j.path} is ${JSON.stringify(got)}, expected ${JSON.stringify(j.equals)}`);
    }
  }
  return problems;
}
