// Passwords are stored only as argon2id hashes: memory-hard, so guessing costs memory as well as
// time, which is what GPUs and ASICs are short of. The parameters are OWASP's first
// recommendation for argon2id (19 MiB, 2 passes, 1 lane): about 50 ms per hash here.
import { hash, verify } from '@node-rs/argon2';

const ARGON2ID = 2; // @node-rs/argon2's Algorithm.Argon2id; a const enum, so not importable here
const PARAMETERS = {
  algorithm: ARGON2ID,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
} as const;

export const PASSWORD_MIN_LENGTH = 12;
const PASSWORD_MAX_LENGTH = 256;

export function hashPassword(password: string): Promise<string> {
  return hash(password, PARAMETERS);
}

/**
 * How many verifications this process has made. Each sign-in answer that looks at a password
 * costs exactly one, real or decoy, so no answer is faster for an unknown name; the security
 * suite holds the sign-in to that by this count, which unlike a stopwatch a busy machine cannot
 * blur.
 */
export const passwordVerifications = { count: 0 };

/** False for a wrong password and for a malformed hash alike: never throws at a login form. */
export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  passwordVerifications.count++;
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** Why a new password is refused, or null. Length is what matters; composition rules do not. */
export function passwordProblem(password: string, username?: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH)
    return `expected at least ${PASSWORD_MIN_LENGTH} characters`;
  if (password.length > PASSWORD_MAX_LENGTH)
    return `expected at most ${PASSWORD_MAX_LENGTH} characters`;
  if (username && password.toLowerCase().includes(username.toLowerCase())) {
    return 'must not contain the user name';
  }
  return null;
}
