// Keyset ("cursor") pagination: each page ends with an opaque cursor naming its last row, and the
// next page starts strictly after it. Unlike OFFSET, a page costs the same at row 10 and at row
// 10,000,000, and rows inserted meanwhile never shift a page.
import { z } from 'zod';

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .refine((value) => decodeCursor(value) !== null, "expected an earlier page's nextCursor")
    .optional(),
};

export interface Cursor {
  at: string;
  id: string;
}

export function encodeCursor(at: Date, id: string | number): string {
  return Buffer.from(JSON.stringify({ at: at.toISOString(), id: String(id) })).toString(
    'base64url',
  );
}

// At most 18 digits: every such id fits a bigint (a longer one would be a database error).
const cursorShape = z.object({ at: z.iso.datetime(), id: z.string().regex(/^\d{1,18}$/) });

export function decodeCursor(value: string | undefined): Cursor | null {
  if (value === undefined) return null;
  try {
    return cursorShape.parse(JSON.parse(Buffer.from(value, 'base64url').toString('utf8')));
  } catch {
    return null;
  }
}
