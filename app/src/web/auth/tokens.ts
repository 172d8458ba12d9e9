// API tokens for scripts and dashboards: created in the portal, shown once, stored as a hash.
//
// SHA-256, not argon2, on purpose: a token is 256 random bits, so there is nothing to guess and
// no need for a slow hash; a fast one lets every API request find its token by an indexed lookup.
// (Passwords are different: people choose them, so they get argon2id.)
import { createHash, randomBytes } from 'node:crypto';
import type { RequestHandler } from 'express';
import { z } from 'zod';
import type { Database } from '../../db/index.ts';
import type { ApiToken, User } from '../../db/models.ts';
import { preparedQuery } from '../../db/prepared.ts';
import type { Logger } from '../../log.ts';
import { audit } from '../audit.ts';
import { boundedDate, parseOrThrow } from '../../validation.ts';

const TOKEN_PREFIX = 'rf_';
/** Characters kept in clear to tell tokens apart in a list ("rf_AbC12…"). */
const SHOWN_CHARACTERS = 8;
/** last_used_at is written at most this often per token: not one UPDATE per API request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const newToken = z
  .object({
    name: z.string().trim().min(1, 'expected a name').max(100, 'expected at most 100 characters'),
    expiresAt: boundedDate()
      .refine((date) => date.getTime() > Date.now(), 'expected a time in the future')
      .nullable()
      .default(null),
  })
  .strict();

export interface CreatedToken {
  /** The only time the token exists in clear: show it to the user once, never store it. */
  token: string;
  record: ApiToken;
}

export async function createApiToken(
  db: Database,
  userId: number,
  input: unknown,
): Promise<CreatedToken> {
  const { name, expiresAt } = parseOrThrow(newToken, input);
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const record = await db.models.ApiToken.create({
    userId,
    name,
    expiresAt,
    tokenHash: hashToken(token),
    prefix: token.slice(0, TOKEN_PREFIX.length + SHOWN_CHARACTERS),
  });
  return { token, record };
}

/** The active user a token belongs to, or null for an unknown, expired or orphaned token. */
export async function authenticateToken(db: Database, token: string): Promise<User | null> {
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  // Every API request comes through here: one indexed query as a prepared statement, no model
  // instance for the token.
  const [found] = await preparedQuery<{
    tokenId: number;
    lastUsedAt: Date | null;
    id: number;
    username: string;
    isAdmin: boolean;
    isActive: boolean;
  }>(
    db.sequelize,
    `SELECT t.id AS "tokenId", t.last_used_at AS "lastUsedAt",
            u.id, u.username, u.is_admin AS "isAdmin", u.is_active AS "isActive"
       FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > now()) AND u.is_active`,
    [hashToken(token)],
  );
  if (!found) return null;
  if (Date.now() - (found.lastUsedAt?.getTime() ?? 0) > LAST_USED_RESOLUTION_MS) {
    await db.models.ApiToken.update({ lastUsedAt: new Date() }, { where: { id: found.tokenId } });
  }
  const { tokenId: _tokenId, lastUsedAt: _lastUsedAt, ...user } = found;
  // Only the fields a request needs; the password hash never leaves the database here.
  return db.models.User.build(user as never, { isNewRecord: false, raw: true });
}

export async function revokeApiToken(
  db: Database,
  userId: number,
  tokenId: number,
): Promise<boolean> {
  return (await db.models.ApiToken.destroy({ where: { id: tokenId, userId } })) > 0;
}

/**
 * `Authorization: Bearer rf_…` → `response.locals.user`. A request without the header passes
 * through (a session may still authenticate it); a wrong or expired token is refused outright,
 * so a broken script fails loudly instead of falling back to anonymous.
 */
export function bearerAuth(db: Database, log: Logger): RequestHandler {
  return (request, response, next) => {
    const header = request.headers.authorization;
    if (!header) return next();
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const refuse = (description: string) => {
      // The token's shown prefix only (as in the portal's list), never the token.
      const prefix = match?.[1]?.slice(0, TOKEN_PREFIX.length + SHOWN_CHARACTERS);
      audit(log, request, 'token.refused', { reason: description, prefix: prefix ?? null });
      response
        .status(401)
        .set('www-authenticate', `Bearer error="invalid_token", error_description="${description}"`)
        .json({ error: description });
    };
    if (!match) return void refuse('expected "Authorization: Bearer <token>"');
    authenticateToken(db, match[1]!).then(
      (user) => {
        if (!user) return void refuse('unknown, revoked or expired token');
        response.locals.user = user;
        next();
      },
      (error: unknown) => next(error),
    );
  };
}
