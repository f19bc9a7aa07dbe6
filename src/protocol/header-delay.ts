/**
 * How long a POST's response headers may wait for the first chunk of its answer, ms: they then go out in the
 * same write (one packet), and a router that is still free to choose may answer with JSON instead (the
 * Streamable HTTP transport lets a server answer a request either way). Shared by the client-facing front and
 * the forwarding of HTTP backends' answers.
 */
export const HEADER_DELAY_MS = 20;
