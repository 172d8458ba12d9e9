// How long an app role takes to stop, which its container's stop grace period must exceed: on
// SIGTERM a role drains for SHUTDOWN_TIMEOUT_MS (contract/env.ts), then has SHUTDOWN_GRACE_MS to
// close its connections before it exits regardless (app/src/main.ts). A container stopped sooner
// is killed before it can hand its jobs back to the queue.
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 20_000;
export const SHUTDOWN_GRACE_MS = 5_000;

/** Docker's stop grace period for an app role: its whole shutdown, plus a margin. */
export const APP_STOP_GRACE_SECONDS =
  Math.ceil((DEFAULT_SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS) / 1000) + 5;
