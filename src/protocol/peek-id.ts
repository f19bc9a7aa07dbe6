/**
 * Finding the id of a JSON-RPC message that was too large to read, from its first and last bytes only, so
 * the right request can get its error instead of waiting for its deadline (or, from a client, so the error
 * names its id rather than null). Serialisers put `id` first (after `jsonrpc`) or last: both ends are tried.
 * A best effort: undefined when neither end shows a top-level id.
 */

const VALUE = String.raw`(-?\d+(?:\.\d+)?|"(?:[^"\\]|\\.)*"|null)`;
/** `{"jsonrpc":"2.0","id":…` or `{"id":…` at the start. */
const AT_HEAD = new RegExp(String.raw`^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${VALUE}\s*[,}]`);
/** `…,"id":…}` or `…,"id":…,"jsonrpc":"2.0"}` at the end. */
const AT_TAIL = new RegExp(String.raw`,\s*"id"\s*:\s*${VALUE}\s*(?:,\s*"jsonrpc"\s*:\s*"2\.0"\s*)?\}\s*$`);

/** The id (a number, a string or null) shown by either end of a message, or undefined. */
export function peekId(head: string, tail: string): string | number | null | undefined {
  const m = AT_HEAD.exec(head) ?? AT_TAIL.exec(tail);
  if (!m) return undefined;
  try {
    return JSON.parse(m[1]!) as string | number | null;
  } catch {
    return undefined;
  }
}
