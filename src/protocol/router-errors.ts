/**
 * The texts of the JSON-RPC errors (and notices) the fronts give when a version fails its client, in one
 * place: every one names the server and the version, so a client's error says which deployment to look at,
 * and the proxy and the router say the same thing for the same failure. Texts only: codes and transport
 * (HTTP status, SSE event, stdio line) are the front's.
 */

/** `server "weather" version 2.0.0`: how every text names a version. */
export function versionLabel(server: string, version: string): string {
  return `server "${server}" version ${version}`;
}

/** A request unanswered by its deadline; `method` when the front knows which request it was. */
export function didNotAnswer(server: string, version: string, timeoutMs: number, method?: string): string {
  return `${versionLabel(server, version)} did not answer ${method === undefined ? '' : `${method} `}within ${timeoutMs} ms`;
}

/** An HTTP backend that refused or dropped the connection before answering. */
export function unreachable(server: string, version: string, url: string, detail: string): string {
  return `${versionLabel(server, version)} is unreachable at ${url}: ${detail}`;
}

/** An HTTP backend whose answer stopped part way. */
export function brokeOff(server: string, version: string, detail: string): string {
  return `${versionLabel(server, version)} broke off its answer: ${detail}`;
}

/** An HTTP backend whose answer is not HTTP the router can pass on. */
export function malformedAnswer(server: string, version: string, detail: string): string {
  return `${versionLabel(server, version)} sent a malformed answer: ${detail}`;
}

/** A backend (process or connection) that could not be started. */
export function couldNotStart(server: string, version: string, detail: string): string {
  return `${versionLabel(server, version)} could not be started: ${detail}`;
}

/** A backend process that is no longer running. */
export function notRunning(server: string, version: string): string {
  return `${versionLabel(server, version)} is not running`;
}

/** A backend process that exited unasked: `how` is "exited with code 1" or "was killed by SIGKILL". */
export function crashed(label: string, how: string, stderrTail: string): string {
  return `${label} ${how}${stderrTail ? ` (stderr: ${stderrTail})` : ''}`;
}

/** A backend answer over the message size limit (dropped). */
export function answerTooLarge(server: string, version: string, bytes: number, limitBytes: number): string {
  return `${versionLabel(server, version)} sent an answer of ${bytes} bytes, over the limit of ${limitBytes}`;
}

/** No version of the server has a share of the traffic. */
export function noVersionCarriesTraffic(server: string): string {
  return `no version of server "${server}" carries traffic`;
}

/** The proxy's session backend keeps dying: `reason` is the last death, `restarts` those within the minute. */
export function notRestartedAfterRestarts(reason: string, restarts: number): string {
  return `${reason}; not restarted (${restarts} restarts in the last minute)`;
}

/** A pooled process that keeps dying is held until `until` (epoch ms); `last` is the last death's text. */
export function heldAfterExits(server: string, version: string, exits: number, until: number, last: string): string {
  return `${versionLabel(server, version)} exited ${exits} times in the last minute; not restarted until ${new Date(until).toISOString().slice(11, 19)} UTC (last: ${last})`;
}
