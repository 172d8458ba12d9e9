// Checking a sign-in: the throttle first (throttle.ts), then the password. Every answer that
// looks at a password costs one argon2 verification, for a real user or a decoy alike, so a wrong
// name takes as long as a wrong password and the answers are the same.
import type { Database } from '../../db/index.ts';
import type { User } from '../../db/models.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { normalisedName, type Attempt, type LoginThrottle } from './throttle.ts';

export type LoginOutcome =
  | { ok: true; user: User; device: string }
  | { ok: false; reason: 'invalid'; guardedNow: boolean; user: User | null }
  | { ok: false; reason: 'backoff' | 'guarded'; retryAfterMs: number };

// Verified against when the user does not exist, so a wrong name takes as long as a wrong password.
let decoy: Promise<string> | undefined;

export async function verifyLogin(
  db: Database,
  throttle: LoginThrottle,
  attempt: Attempt & { password: string },
): Promise<LoginOutcome> {
  const verdict = await throttle.check(attempt);
  if (!verdict.allowed)
    return { ok: false, reason: verdict.reason, retryAfterMs: verdict.retryAfterMs };
  const found = await db.models.User.findOne({
    where: { username: normalisedName(attempt.username) },
  });
  const user = found?.isActive ? found : null;
  const hash = user
    ? user.passwordHash
    : await (decoy ??= hashPassword('decoy password, never valid'));
  if (!(await verifyPassword(hash, attempt.password)) || !user) {
    const { guardedNow } = await throttle.failed(attempt, verdict.trusted);
    return { ok: false, reason: 'invalid', guardedNow, user };
  }
  const device = await throttle.succeeded(attempt, verdict.trusted);
  await user.update({ lastLoginAt: new Date() });
  return { ok: true, user, device };
}
