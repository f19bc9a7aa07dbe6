/**
 * The one application error. Its message says what failed and on which object; the code lets the edges
 * (CLI exit codes, later HTTP statuses) map it without parsing text. Wire-level JSON-RPC errors live apart,
 * in the protocol layer.
 */
export type ErrorCode =
  | 'usage' // the command line itself was wrong
  | 'invalid' // a value was wrong (semver, percentage, URL, ...)
  | 'not-found' // unknown server or version
  | 'conflict' // the request contradicts the current state (duplicate version, no blue, ...)
  | 'corrupt' // a state file cannot be read as it is
  | 'locked' // could not get the inter-process lock in time
  | 'io'; // the file system failed

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }

  /** The message followed by its details, one per line. */
  render(): string {
    return [this.message, ...this.details.map((d) => `  - ${d}`)].join('\n');
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}
