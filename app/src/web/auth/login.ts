// Checking a sign-in, with an account lockout on top of the per-address rate limit: an attacker
// spreading guesses over many addresses still gets only a handful per account per quarter hour.
import type { Database } from '../../db/index.ts';
import type { User } from '../../db/models.ts';
import { hashPassword, verifyPassword } from './passwords.ts';

export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MS = 15 * 60_000;

export type LoginOutcome = { ok: true; user: User } | { ok: false; reason: 'invalid' | 'locked' };

// Verified against when the user does not exist, so a wrong name takes as long as a wrong password.
let decoy: Promise<string> | undefined;

export async function verifyLogin(
  db: Database,
  username: string,
  password: string,
): Promise<LoginOutcome> {
  const user = await db.models.User.findOne({ where: { username: username.trim().toLowerCase() } });
  if (!user || !user.isActive) {
    await verifyPassword(await (decoy ??= hashPassword('decoy password, never valid')), password);
    return { ok: false, reason: 'invalid' };
  }
  if (user.lockedUntil && user.lockedUntil.getTime() > Date.now())
    return { ok: false, reason: 'locked' };
  if (!(await verifyPassword(user.passwordHash, password))) {
    const failures = user.failedLogins + 1;
    const locked = failures >= MAX_FAILED_LOGINS;
    await user.update({
      failedLogins: locked ? 0 : failures,
      lockedUntil: locked ? new Date(Date.now() + LOCKOUT_MS) : user.lockedUntil,
    });
    return { ok: false, reason: locked ? 'locked' : 'invalid' };
  }
  await user.update({ failedLogins: 0, lockedUntil: null, lastLoginAt: new Date() });
  return { ok: true, user };
}
