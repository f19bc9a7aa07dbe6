/**
 * Reason codes, in one file: what ends or moves a client session, and what ends a rollout. Tools match on
 * these (events, `--json`, the `reason` label of /metrics) instead of on the prose beside them, which may
 * change. The set is closed on purpose: a /metrics label must stay bounded.
 */

/** Why a front ended a client session or moved it to another version. */
export const SessionReason = {
  /** The pinned version was rolled back after the session was pinned. */
  VersionRolledBack: 'VersionRolledBack',
  /** The pinned version was removed from the registry. */
  VersionRemoved: 'VersionRemoved',
  /** The whole server was removed from the registry. */
  ServerRemoved: 'ServerRemoved',
  /** Another version was promoted and the promotion policy is `move`. */
  PromotedAway: 'PromotedAway',
  /** The session's backend process or connection died unasked. */
  BackendDied: 'BackendDied',
  /** The backend no longer knows the session (it restarted and answers 404). */
  BackendSessionGone: 'BackendSessionGone',
  /** Unused for the router's --idle-timeout. */
  IdleTimeout: 'IdleTimeout',
  /** Its backend process was idle for --process-idle-timeout. */
  ProcessIdleTimeout: 'ProcessIdleTimeout',
  /** Its idle backend process gave way to a new session at --max-processes. */
  ProcessCap: 'ProcessCap',
} as const;
export type SessionReason = (typeof SessionReason)[keyof typeof SessionReason];
export const SESSION_REASONS: readonly SessionReason[] = Object.values(SessionReason);

/** Why a rollout ended (its `ended` event) or rolled back (its `rolled-back` event). */
export const RolloutReason = {
  /** Every step passed, or a person promoted with --full. */
  Promoted: 'Promoted',
  /** The candidate became blue by a command outside the rollout. */
  PromotedOutside: 'PromotedOutside',
  /** The candidate was rolled back or removed by a command outside the rollout. */
  RolledBackOutside: 'RolledBackOutside',
  /** A person aborted it. */
  Aborted: 'Aborted',
  /** The active health probe of the candidate failed. */
  HealthProbeFailed: 'HealthProbeFailed',
  /** The analysis failed as often as the failure limit allows. */
  AnalysisFailed: 'AnalysisFailed',
} as const;
export type RolloutReason = (typeof RolloutReason)[keyof typeof RolloutReason];
