// Stores one speed test: its servers (upserted by engine and id), the client (upserted by address
// and ISP), the test row linked to its task result, and every pinged candidate. One transaction:
// a test is stored whole or not at all.
import { QueryTypes, type Transaction } from 'sequelize';
import type { Database } from '../db/index.ts';
import type { JsonValue } from '../db/models.ts';
import type { SpeedtestObservation } from '../metrics/registry.ts';
import type { SpeedtestResult, SpeedtestServer } from './engine.ts';

async function upsertServer(
  db: Database,
  engine: string,
  server: SpeedtestServer,
  transaction: Transaction,
): Promise<number> {
  const [row] = await db.sequelize.query<{ id: number }>(
    `INSERT INTO speedtest_servers (engine, external_id, name, sponsor, host, url, country, country_code, lat, lon)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (engine, external_id) DO UPDATE SET
       name = EXCLUDED.name,
       sponsor = COALESCE(EXCLUDED.sponsor, speedtest_servers.sponsor),
       host = COALESCE(EXCLUDED.host, speedtest_servers.host),
       url = COALESCE(EXCLUDED.url, speedtest_servers.url),
       country = COALESCE(EXCLUDED.country, speedtest_servers.country),
       country_code = COALESCE(EXCLUDED.country_code, speedtest_servers.country_code),
       lat = COALESCE(EXCLUDED.lat, speedtest_servers.lat),
       lon = COALESCE(EXCLUDED.lon, speedtest_servers.lon),
       updated_at = now()
     RETURNING id`,
    {
      bind: [
        engine,
        server.id,
        server.name,
        server.sponsor ?? null,
        server.host ?? null,
        server.url ?? null,
        server.country ?? null,
        server.countryCode?.toUpperCase() ?? null,
        server.lat ?? null,
        server.lon ?? null,
      ],
      type: QueryTypes.SELECT,
      transaction,
    },
  );
  return row!.id;
}

export async function storeSpeedtest(
  db: Database,
  result: SpeedtestResult,
  options: { jobId?: string } = {},
): Promise<string> {
  return db.sequelize.transaction(async (transaction) => {
    // A server listed twice among the candidates is one server: keyed by the engine's id.
    const serverIds = new Map<string, number>();
    for (const server of [result.server, ...result.pinged.map((p) => p.server)]) {
      if (!serverIds.has(server.id)) {
        serverIds.set(server.id, await upsertServer(db, result.engine, server, transaction));
      }
    }
    const serverId = serverIds.get(result.server.id)!;

    let clientId: number | null = null;
    if (result.client) {
      const [client] = await db.sequelize.query<{ id: number }>(
        `INSERT INTO clients (ip, isp, country_code, lat, lon) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (ip, isp) DO UPDATE SET
           country_code = COALESCE(EXCLUDED.country_code, clients.country_code),
           lat = COALESCE(EXCLUDED.lat, clients.lat),
           lon = COALESCE(EXCLUDED.lon, clients.lon),
           updated_at = now()
         RETURNING id`,
        {
          bind: [
            result.client.ip,
            result.client.isp ?? '',
            result.client.countryCode?.toUpperCase() ?? null,
            result.client.lat ?? null,
            result.client.lon ?? null,
          ],
          type: QueryTypes.SELECT,
          transaction,
        },
      );
      clientId = client!.id;
    }

    const [taskResult] = options.jobId
      ? await db.sequelize.query<{ id: string }>('SELECT id FROM task_results WHERE job_id = $1', {
          bind: [options.jobId],
          type: QueryTypes.SELECT,
          transaction,
        })
      : [];
    const speedtest = await db.models.Speedtest.create(
      {
        startedAt: result.startedAt,
        engine: result.engine,
        downloadBps: result.downloadBps,
        uploadBps: result.uploadBps,
        pingMs: result.pingMs,
        jitterMs: result.jitterMs,
        packetLoss: result.packetLoss,
        downloadLatencyMs: result.downloadLatency?.latencyMs ?? null,
        downloadJitterMs: result.downloadLatency?.jitterMs ?? null,
        uploadLatencyMs: result.uploadLatency?.latencyMs ?? null,
        uploadJitterMs: result.uploadLatency?.jitterMs ?? null,
        sourceAddress: result.source.address,
        sourceInterface: result.source.interface,
        ipFamily: result.source.family,
        bytesReceived: String(result.bytesReceived),
        bytesSent: String(result.bytesSent),
        durationMs: result.durationMs,
        resultUrl: result.resultUrl,
        selfTest: result.selfTest,
        serverId,
        clientId,
        taskResultId: taskResult?.id ?? null,
        raw: JSON.parse(JSON.stringify(result.raw ?? {})) as JsonValue,
      },
      { transaction },
    );
    const pings = new Map(result.pinged.map((p) => [p.server.id, p]));
    await db.models.SpeedtestServerPing.bulkCreate(
      [...pings.values()].map((p) => ({
        speedtestId: speedtest.id,
        serverId: serverIds.get(p.server.id)!,
        latencyMs: p.latencyMs,
        distanceKm: p.server.distanceKm ?? null,
        chosen: p.server.id === result.server.id,
      })),
      { transaction },
    );
    return speedtest.id;
  });
}

/** The latest test of every engine and server, to start the "latest" gauges after a restart. */
export async function latestSpeedtests(db: Database): Promise<SpeedtestObservation[]> {
  const rows = await db.sequelize.query<{
    engine: string;
    server: string;
    started_at: Date;
    download_bps: number | null;
    upload_bps: number | null;
    ping_ms: number | null;
    jitter_ms: number | null;
    packet_loss: number | null;
    download_latency_ms: number | null;
    upload_latency_ms: number | null;
  }>(
    `SELECT DISTINCT ON (t.engine, s.name) t.engine, s.name AS server, t.started_at,
            t.download_bps, t.upload_bps, t.ping_ms, t.jitter_ms, t.packet_loss,
            t.download_latency_ms, t.upload_latency_ms
       FROM speedtests t JOIN speedtest_servers s ON s.id = t.server_id
      ORDER BY t.engine, s.name, t.started_at DESC`,
    { type: QueryTypes.SELECT },
  );
  return rows.map((row) => ({
    engine: row.engine,
    server: row.server,
    startedAt: row.started_at,
    downloadBps: row.download_bps,
    uploadBps: row.upload_bps,
    pingMs: row.ping_ms,
    jitterMs: row.jitter_ms,
    packetLoss: row.packet_loss,
    downloadLatencyMs: row.download_latency_ms,
    uploadLatencyMs: row.upload_latency_ms,
  }));
}
