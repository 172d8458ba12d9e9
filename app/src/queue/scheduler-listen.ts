// The scheduler's ear on PostgreSQL: LISTEN on a connection of its own for the trigger's
// notifications, re-established whenever it drops. Notifications sent while it was away are lost,
// so every reconnect is followed by a full reconcile (onReconnected).
import type { Client as PgClient } from 'pg';
import { createPgClient } from '../db/connection.ts';
import type { Logger } from '../log.ts';

export interface ChangeListener {
  /** Stops reconnecting; the connection itself stays open until close(). */
  stop(): void;
  close(): Promise<void>;
}

export async function listenForChanges(options: {
  databaseUrl: string;
  channel: string;
  log: Logger;
  /** The ids of the rows that changed; undefined: something else, reconcile everything. */
  onChange(ids: number[] | undefined): void;
  onReconnected(): void;
}): Promise<ChangeListener> {
  const { log } = options;
  let closed = false;
  let listener: PgClient | null = null;
  let retryTimer: NodeJS.Timeout | undefined;

  async function listen(attempt = 0): Promise<void> {
    if (closed) return;
    const client = createPgClient(options.databaseUrl);
    const retry = (error: Error) => {
      if (closed || listener !== client) return;
      listener = null;
      client.end().catch(() => undefined);
      const delay = Math.min(200 * 2 ** attempt, 5_000);
      log.warn(
        { err: error.message, delayMs: delay },
        'lost the PostgreSQL LISTEN connection; reconnecting',
      );
      retryTimer = setTimeout(() => void listen(attempt + 1), delay);
    };
    listener = client;
    client.on('error', retry);
    client.on('end', () => retry(new Error('connection ended')));
    client.on('notification', (message) => {
      const id = Number(message.payload);
      // Our trigger sends the row id; anything else on the channel asks for a full reconcile.
      options.onChange(Number.isSafeInteger(id) ? [id] : undefined);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${options.channel}`);
      if (attempt > 0) {
        log.info('PostgreSQL LISTEN connection restored');
        options.onReconnected();
      }
      // A later drop starts its backoff afresh (and still counts as a reconnect).
      attempt = 0;
    } catch (error) {
      retry(error as Error);
    }
  }

  await listen();
  const stop = () => {
    closed = true;
    clearTimeout(retryTimer);
  };
  return {
    stop,
    async close() {
      stop();
      const client = listener;
      listener = null;
      await client?.end().catch(() => undefined);
    },
  };
}
