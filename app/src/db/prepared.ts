// Read queries on the hot paths of the web role (every API request's token, every page's session,
// the speed test list and summary) as plain node-postgres prepared statements, on a connection
// borrowed from Sequelize's own pool (so the pool size and limits stay one setting).
//
// Why not `sequelize.query`: for SQL that is already written out, Sequelize adds only work per
// call (option cloning, its own bind-parameter rewriting, result post-processing), and sends each
// query unnamed, so PostgreSQL parses and plans it every time. A named statement is parsed once
// per connection. Measured on the speed test list query: 0.28 -> 0.15 ms of Node CPU and 0.48 ->
// 0.25 ms of wall time per query.
//
// Planned once, too. PostgreSQL plans a prepared statement afresh with its values for the first
// five runs, then keeps one generic plan only if its estimated cost is no higher; with estimates
// made without the values it seldom is, so the summary paid 0.24 ms of planning for 0.36 ms of
// execution on every call. These statements are written for one index each (keyset pages on the
// time index, lookups by key, whole days by day) so their best plan does not depend on the values
// (checked with EXPLAIN ANALYZE for every filter combination: the generic plan runs as fast), and
// the connections that run them are told to use generic plans (`plan_cache_mode`). That setting
// concerns named statements and PL/pgSQL only: Sequelize's own unnamed queries are planned as
// before.
//
// The rules that make this safe: the text must be one of a fixed set (values are always bound,
// never spliced in), because every distinct text becomes a statement kept on each connection;
// and a statement whose best plan depends on its values does not belong here.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Sequelize } from 'sequelize';

const names = new Map<string, string>();
/** Connections already switched to generic plans. */
const generic = new WeakSet<pg.ClientBase>();

/** A stable name per SQL text: the same text is the same statement on every connection. */
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `q${createHash('sha256').update(text).digest('base64url').slice(0, 22)}`;
    names.set(text, name);
  }
  return name;
}

/** Rows of a SELECT (or of a statement with RETURNING), with the same type parsing as Sequelize. */
export async function preparedQuery<T extends pg.QueryResultRow>(
  sequelize: Sequelize,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const manager = sequelize.connectionManager;
  // The primary, like Sequelize's own queries (with read replicas configured, 'read' could lag).
  const client = (await manager.getConnection({ type: 'write' })) as unknown as pg.ClientBase;
  try {
    if (!generic.has(client)) {
      await client.query('SET plan_cache_mode = force_generic_plan');
      generic.add(client);
    }
    const result = await client.query<T>({ name: statementName(text), text, values });
    return result.rows;
  } finally {
    manager.releaseConnection(client);
  }
}
