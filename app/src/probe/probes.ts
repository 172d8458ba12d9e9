// The probes table, as the API and the portal change it: every write validated by probeInput
// (one message per field at fault), a taken name said as such, unknown ids a NotFoundError. Only
// admins write: a probe makes the worker connect to any host and port it can reach, as
// system.http_check does. The running prober reads the table again within its refresh.
import { UniqueConstraintError } from 'sequelize';
import type { Database } from '../db/index.ts';
import type { Probe, User } from '../db/models.ts';
import { ForbiddenError, NotFoundError } from '../errors.ts';
import type { Queues } from '../queue/queues.ts';
import { WorkerSources } from '../speedtest/worker-sources.ts';
import { issuesOf, ValidationError } from '../validation.ts';
import { probeInput, type ProbeInput, type ProbeRecord } from './definition.ts';

export function presentProbe(row: Probe): ProbeRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    targets: row.targets,
    periodSeconds: row.periodSeconds,
    timeoutMs: row.timeoutMs,
    failuresForOutage: row.failuresForOutage,
    sourceAddress: row.sourceAddress,
    family: row.family,
    speedtestOnRecovery: row.speedtestOnRecovery,
    enabled: row.enabled,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function assertAdmin(actor: User): void {
  if (!actor.isAdmin) {
    throw new ForbiddenError(
      'only admins may add or change probes (a probe makes the worker connect to any address)',
    );
  }
}

function validated(input: unknown): ProbeInput {
  const parsed = probeInput.safeParse(input);
  if (!parsed.success) throw new ValidationError(issuesOf(parsed.error));
  return parsed.data;
}

export class Probes {
  readonly #db: Database;
  readonly #sources: WorkerSources | null;

  /** With `queues`, a source address is checked against the workers' hosts too. */
  constructor(db: Database, queues?: Queues) {
    this.#db = db;
    this.#sources = queues ? new WorkerSources(queues.connection, queues.prefix) : null;
  }

  async #checked(input: unknown): Promise<ProbeInput> {
    const probe = validated(input);
    const issues = (await this.#sources?.issues(probe)) ?? [];
    if (issues.length) throw new ValidationError(issues);
    return probe;
  }

  list(): Promise<Probe[]> {
    return this.#db.models.Probe.findAll({ order: [['name', 'ASC']] });
  }

  async get(id: number): Promise<Probe> {
    const row = await this.#db.models.Probe.findByPk(id);
    if (!row) throw new NotFoundError(`there is no probe ${id}`);
    return row;
  }

  async create(input: unknown, actor: User): Promise<Probe> {
    assertAdmin(actor);
    const probe = await this.#checked(input);
    return this.#saving(probe.name, () => this.#db.models.Probe.create(probe));
  }

  /** A whole probe (a PATCH merges the stored one with what it changes, then validates that). */
  async update(id: number, changes: Record<string, unknown>, actor: User): Promise<Probe> {
    assertAdmin(actor);
    const row = await this.get(id);
    const { id: _id, createdAt: _c, updatedAt: _u, ...stored } = presentProbe(row);
    const probe = await this.#checked({ ...stored, ...changes });
    return this.#saving(probe.name, () => row.update({ ...probe, updatedAt: new Date() }));
  }

  async remove(id: number, actor: User): Promise<void> {
    assertAdmin(actor);
    const row = await this.get(id);
    await row.destroy();
  }

  async #saving(name: string, write: () => Promise<Probe>): Promise<Probe> {
    try {
      return await write();
    } catch (error) {
      if (error instanceof UniqueConstraintError) {
        throw new ValidationError([{ path: 'name', message: `a probe named "${name}" exists` }]);
      }
      throw error;
    }
  }
}
