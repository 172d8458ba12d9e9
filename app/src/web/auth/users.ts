// Creating users, and the first admin. There are no default credentials anywhere: the first
// admin comes from ADMIN_USERNAME + ADMIN_PASSWORD at start, or from `refresher create-admin`.
import { Op, UniqueConstraintError } from 'sequelize';
import { z } from 'zod';
import { ConfigError, type Config } from '../../config.ts';
import type { Database } from '../../db/index.ts';
import type { User } from '../../db/models.ts';
import type { Logger } from '../../log.ts';
import { parseOrThrow, ValidationError } from '../../validation.ts';
import { NotFoundError } from '../../errors.ts';
import { hashPassword, passwordProblem, verifyPassword } from './passwords.ts';

export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9_.@-]{1,64}$/, 'expected 1 to 64 letters, digits, or . _ @ -');

const newUser = z
  .object({ username: usernameSchema, password: z.string(), isAdmin: z.boolean().default(false) })
  .strict()
  .superRefine((value, ctx) => {
    const problem = passwordProblem(value.password, value.username);
    if (problem) ctx.addIssue({ code: 'custom', path: ['password'], message: problem });
  });

export async function createUser(db: Database, input: z.input<typeof newUser>): Promise<User> {
  const { username, password, isAdmin } = parseOrThrow(newUser, input);
  try {
    return await db.models.User.create({
      username,
      passwordHash: await hashPassword(password),
      isAdmin,
    });
  } catch (error) {
    if (error instanceof UniqueConstraintError) {
      throw new ValidationError([{ path: 'username', message: `"${username}" is taken` }]);
    }
    throw error;
  }
}

/**
 * Creates the admin named by ADMIN_USERNAME / ADMIN_PASSWORD when no user of that name exists.
 * An existing user is left as it is: the environment is for bootstrapping, and silently resetting
 * a password that was changed in the portal would be a surprise.
 */
export async function ensureAdminFromEnv(
  db: Database,
  config: Pick<Config, 'ADMIN_USERNAME' | 'ADMIN_PASSWORD'>,
  log: Logger,
): Promise<'created' | 'exists' | 'not configured'> {
  if (!config.ADMIN_USERNAME || !config.ADMIN_PASSWORD) return 'not configured';
  const existing = await db.models.User.findOne({ where: { username: config.ADMIN_USERNAME } });
  if (existing) {
    log.info(
      { username: config.ADMIN_USERNAME },
      'admin from ADMIN_USERNAME exists; left unchanged',
    );
    return 'exists';
  }
  try {
    await createUser(db, {
      username: config.ADMIN_USERNAME,
      password: config.ADMIN_PASSWORD,
      isAdmin: true,
    });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    // Two web processes starting together both try; the second finds the name taken.
    if (error.issues.some((issue) => issue.message.endsWith('is taken'))) return 'exists';
    const variables: Record<string, string> = {
      username: 'ADMIN_USERNAME',
      password: 'ADMIN_PASSWORD',
    };
    const lines = error.issues.map(
      (issue) => `  ${variables[issue.path] ?? issue.path}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid environment:\n${lines.join('\n')}`);
  }
  log.info({ username: config.ADMIN_USERNAME }, 'created the admin from ADMIN_USERNAME');
  return 'created';
}

/**
 * Changes a password after checking the current one, and ends the user's other sessions: whoever
 * may have known the old password is signed out everywhere but here.
 */
export async function changePassword(
  db: Database,
  userId: number,
  input: { current: string; next: string },
  keepSessionId: string,
): Promise<void> {
  const user = await db.models.User.findByPk(userId);
  if (!user) throw new ValidationError([{ path: 'current', message: 'unknown user' }]);
  if (!(await verifyPassword(user.passwordHash, input.current))) {
    throw new ValidationError([{ path: 'current', message: 'this is not your current password' }]);
  }
  const problem = passwordProblem(input.next, user.username);
  if (problem) throw new ValidationError([{ path: 'next', message: problem }]);
  await db.sequelize.transaction(async (transaction) => {
    await user.update({ passwordHash: await hashPassword(input.next) }, { transaction });
    await db.models.Session.destroy({
      where: { userId, sid: { [Op.ne]: keepSessionId } },
      transaction,
    });
  });
}

/**
 * Activates or deactivates another user. Deactivation ends the user's sessions and revokes their
 * API tokens for good: reactivating an account must not bring back a token that may have leaked
 * meanwhile (the user makes new ones).
 */
export async function setUserActive(
  db: Database,
  actingUserId: number,
  userId: number,
  isActive: boolean,
): Promise<User> {
  if (actingUserId === userId) {
    throw new ValidationError([{ path: 'id', message: 'you cannot deactivate yourself' }]);
  }
  const user = await db.models.User.findByPk(userId);
  if (!user) throw new NotFoundError(`user ${userId} does not exist`);
  await db.sequelize.transaction(async (transaction) => {
    await user.update({ isActive }, { transaction });
    if (!isActive) {
      await db.models.Session.destroy({ where: { userId }, transaction });
      await db.models.ApiToken.destroy({ where: { userId }, transaction });
    }
  });
  return user;
}
