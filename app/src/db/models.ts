// Sequelize models over the tables the migrations create. The migrations own the schema (types,
// constraints, indexes); these classes give the code typed rows. A test checks that every
// attribute here exists in the migrated database with a compatible type.
import type { QueueName } from '../tasks/registry.ts';
import {
  DataTypes,
  Model,
  type CreationOptional,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';

export type ScheduleType = 'interval' | 'crontab' | 'clocked';
export type IntervalPeriod = 'days' | 'hours' | 'minutes' | 'seconds';
export type TaskStatus = 'queued' | 'started' | 'retried' | 'succeeded' | 'failed' | 'revoked';

export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface TaskLogLine {
  at: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}

class PeriodicTaskBase extends Model<
  InferAttributes<PeriodicTaskBase>,
  InferCreationAttributes<PeriodicTaskBase>
> {
  declare id: CreationOptional<number>;
  declare name: string;
  declare task: string;
  declare args: CreationOptional<unknown[]>;
  declare kwargs: CreationOptional<Record<string, unknown>>;
  declare scheduleType: ScheduleType;
  declare intervalEvery: CreationOptional<number | null>;
  declare intervalPeriod: CreationOptional<IntervalPeriod | null>;
  declare crontab: CreationOptional<string | null>;
  declare timezone: CreationOptional<string>;
  declare clockedAt: CreationOptional<Date | null>;
  /** Each run starts up to this many seconds after its slot, at random (0: on the slot). */
  declare jitterSeconds: CreationOptional<number>;
  declare startTime: CreationOptional<Date | null>;
  declare expiresAt: CreationOptional<Date | null>;
  declare oneOff: CreationOptional<boolean>;
  declare enabled: CreationOptional<boolean>;
  declare priority: CreationOptional<number | null>;
  declare queue: CreationOptional<QueueName | null>;
  declare description: CreationOptional<string>;
  declare lastRunAt: CreationOptional<Date | null>;
  declare totalRunCount: CreationOptional<number>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

class TaskResultBase extends Model<
  InferAttributes<TaskResultBase>,
  InferCreationAttributes<TaskResultBase>
> {
  declare id: CreationOptional<string>;
  declare jobId: string;
  declare queue: string;
  declare task: string;
  declare periodicTaskId: ForeignKey<number> | null;
  declare status: TaskStatus;
  declare attempts: CreationOptional<number>;
  declare args: CreationOptional<unknown[]>;
  declare kwargs: CreationOptional<Record<string, unknown>>;
  declare result: CreationOptional<JsonValue>;
  declare error: CreationOptional<string | null>;
  declare stack: CreationOptional<string | null>;
  declare logs: CreationOptional<TaskLogLine[]>;
  declare worker: CreationOptional<string | null>;
  declare scheduledFor: CreationOptional<Date | null>;
  declare queuedAt: CreationOptional<Date>;
  declare startedAt: CreationOptional<Date | null>;
  declare finishedAt: CreationOptional<Date | null>;
  declare durationMs: CreationOptional<number | null>;
}

class SpeedtestServerBase extends Model<
  InferAttributes<SpeedtestServerBase>,
  InferCreationAttributes<SpeedtestServerBase>
> {
  declare id: CreationOptional<number>;
  declare engine: string;
  declare externalId: string;
  declare name: string;
  declare sponsor: CreationOptional<string | null>;
  declare host: CreationOptional<string | null>;
  declare url: CreationOptional<string | null>;
  declare country: CreationOptional<string | null>;
  declare countryCode: CreationOptional<string | null>;
  declare lat: CreationOptional<number | null>;
  declare lon: CreationOptional<number | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

class ClientBase extends Model<InferAttributes<ClientBase>, InferCreationAttributes<ClientBase>> {
  declare id: CreationOptional<number>;
  declare ip: string;
  declare isp: CreationOptional<string>;
  declare countryCode: CreationOptional<string | null>;
  declare lat: CreationOptional<number | null>;
  declare lon: CreationOptional<number | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

class SpeedtestBase extends Model<
  InferAttributes<SpeedtestBase>,
  InferCreationAttributes<SpeedtestBase>
> {
  declare id: CreationOptional<string>;
  declare startedAt: Date;
  declare engine: string;
  declare downloadBps: CreationOptional<number | null>;
  declare uploadBps: CreationOptional<number | null>;
  declare pingMs: CreationOptional<number | null>;
  declare jitterMs: CreationOptional<number | null>;
  declare packetLoss: CreationOptional<number | null>;
  declare downloadLatencyMs: CreationOptional<number | null>;
  declare downloadJitterMs: CreationOptional<number | null>;
  declare uploadLatencyMs: CreationOptional<number | null>;
  declare uploadJitterMs: CreationOptional<number | null>;
  declare sourceAddress: CreationOptional<string | null>;
  declare sourceInterface: CreationOptional<string | null>;
  declare ipFamily: CreationOptional<number | null>;
  declare bytesReceived: CreationOptional<string | null>;
  declare bytesSent: CreationOptional<string | null>;
  declare durationMs: CreationOptional<number | null>;
  declare resultUrl: CreationOptional<string | null>;
  declare selfTest: CreationOptional<boolean>;
  declare serverId: ForeignKey<number> | null;
  declare clientId: ForeignKey<number> | null;
  declare taskResultId: ForeignKey<string> | null;
  declare raw: CreationOptional<JsonValue>;
}

class SpeedtestServerPingBase extends Model<
  InferAttributes<SpeedtestServerPingBase>,
  InferCreationAttributes<SpeedtestServerPingBase>
> {
  declare speedtestId: ForeignKey<string>;
  declare serverId: ForeignKey<number>;
  declare latencyMs: CreationOptional<number | null>;
  declare distanceKm: CreationOptional<number | null>;
  declare chosen: CreationOptional<boolean>;
}

export type ProbeKind = 'tcp' | 'http';

class ProbeBase extends Model<InferAttributes<ProbeBase>, InferCreationAttributes<ProbeBase>> {
  declare id: CreationOptional<number>;
  declare name: string;
  declare kind: ProbeKind;
  declare targets: string[];
  declare periodSeconds: number;
  declare timeoutMs: number;
  declare failuresForOutage: CreationOptional<number>;
  declare sourceAddress: CreationOptional<string | null>;
  declare family: CreationOptional<4 | 6 | null>;
  declare speedtestOnRecovery: CreationOptional<boolean>;
  declare enabled: CreationOptional<boolean>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

class ProbeOutageBase extends Model<
  InferAttributes<ProbeOutageBase>,
  InferCreationAttributes<ProbeOutageBase>
> {
  declare id: CreationOptional<string>;
  declare probeId: ForeignKey<number>;
  declare startedAt: Date;
  declare endedAt: CreationOptional<Date | null>;
  declare failedRounds: CreationOptional<number>;
  declare lastError: CreationOptional<string>;
}

class UserBase extends Model<InferAttributes<UserBase>, InferCreationAttributes<UserBase>> {
  declare id: CreationOptional<number>;
  declare username: string;
  declare passwordHash: string;
  declare isAdmin: CreationOptional<boolean>;
  declare isActive: CreationOptional<boolean>;
  declare lastLoginAt: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
  declare updatedAt: CreationOptional<Date>;
}

class ApiTokenBase extends Model<
  InferAttributes<ApiTokenBase>,
  InferCreationAttributes<ApiTokenBase>
> {
  declare id: CreationOptional<number>;
  declare userId: ForeignKey<number>;
  declare name: string;
  declare tokenHash: string;
  declare prefix: string;
  declare expiresAt: CreationOptional<Date | null>;
  declare lastUsedAt: CreationOptional<Date | null>;
  declare createdAt: CreationOptional<Date>;
}

class SessionBase extends Model<
  InferAttributes<SessionBase>,
  InferCreationAttributes<SessionBase>
> {
  declare sid: string;
  declare data: Record<string, unknown>;
  declare userId: ForeignKey<number> | null;
  declare expiresAt: Date;
}

const { ARRAY, BIGINT, BOOLEAN, DATE, DOUBLE, INET, INTEGER, JSONB, SMALLINT, STRING, TEXT } =
  DataTypes;
// Functions, not shared objects: Sequelize writes into each attribute definition it is given.
const now = () => ({ type: DATE, allowNull: false, defaultValue: DataTypes.NOW });
const coordinates = () => ({ lat: { type: DOUBLE }, lon: { type: DOUBLE } });

/**
 * Binds the models to one Sequelize instance. Sequelize keeps a model's connection on the class
 * itself, so each call works on fresh subclasses: two databases in one process (tests, tools)
 * never share a model by accident.
 */
export function initModels(sequelize: Sequelize) {
  const options = (tableName: string) => ({
    sequelize,
    tableName,
    underscored: true,
    timestamps: false,
  });
  const PeriodicTask = class extends PeriodicTaskBase {};
  const TaskResult = class extends TaskResultBase {};
  const SpeedtestServer = class extends SpeedtestServerBase {};
  const Client = class extends ClientBase {};
  const Speedtest = class extends SpeedtestBase {};
  const SpeedtestServerPing = class extends SpeedtestServerPingBase {};
  const Probe = class extends ProbeBase {};
  const ProbeOutage = class extends ProbeOutageBase {};
  const User = class extends UserBase {};
  const ApiToken = class extends ApiTokenBase {};
  const Session = class extends SessionBase {};

  PeriodicTask.init(
    {
      id: { type: INTEGER, primaryKey: true, autoIncrement: true },
      name: { type: TEXT, allowNull: false },
      task: { type: TEXT, allowNull: false },
      args: { type: JSONB, allowNull: false, defaultValue: [] },
      kwargs: { type: JSONB, allowNull: false, defaultValue: {} },
      scheduleType: { type: TEXT, allowNull: false },
      intervalEvery: { type: INTEGER },
      intervalPeriod: { type: TEXT },
      crontab: { type: TEXT },
      timezone: { type: TEXT, allowNull: false, defaultValue: 'UTC' },
      clockedAt: { type: DATE },
      jitterSeconds: { type: INTEGER, allowNull: false, defaultValue: 0 },
      startTime: { type: DATE },
      expiresAt: { type: DATE },
      oneOff: { type: BOOLEAN, allowNull: false, defaultValue: false },
      enabled: { type: BOOLEAN, allowNull: false, defaultValue: true },
      priority: { type: INTEGER },
      queue: { type: TEXT },
      description: { type: TEXT, allowNull: false, defaultValue: '' },
      lastRunAt: { type: DATE },
      totalRunCount: { type: INTEGER, allowNull: false, defaultValue: 0 },
      createdAt: now(),
      updatedAt: now(),
    },
    options('periodic_tasks'),
  );

  TaskResult.init(
    {
      id: { type: BIGINT, primaryKey: true, autoIncrement: true },
      jobId: { type: TEXT, allowNull: false, unique: true },
      queue: { type: TEXT, allowNull: false },
      task: { type: TEXT, allowNull: false },
      periodicTaskId: { type: INTEGER },
      status: { type: TEXT, allowNull: false },
      attempts: { type: INTEGER, allowNull: false, defaultValue: 0 },
      args: { type: JSONB, allowNull: false, defaultValue: [] },
      kwargs: { type: JSONB, allowNull: false, defaultValue: {} },
      result: { type: JSONB },
      error: { type: TEXT },
      stack: { type: TEXT },
      logs: { type: JSONB, allowNull: false, defaultValue: [] },
      worker: { type: TEXT },
      scheduledFor: { type: DATE },
      queuedAt: now(),
      startedAt: { type: DATE },
      finishedAt: { type: DATE },
      durationMs: { type: DOUBLE },
    },
    options('task_results'),
  );

  SpeedtestServer.init(
    {
      id: { type: INTEGER, primaryKey: true, autoIncrement: true },
      engine: { type: TEXT, allowNull: false },
      externalId: { type: TEXT, allowNull: false },
      name: { type: TEXT, allowNull: false },
      sponsor: { type: TEXT },
      host: { type: TEXT },
      url: { type: TEXT },
      country: { type: TEXT },
      countryCode: { type: STRING(2) },
      ...coordinates(),
      createdAt: now(),
      updatedAt: now(),
    },
    options('speedtest_servers'),
  );

  Client.init(
    {
      id: { type: INTEGER, primaryKey: true, autoIncrement: true },
      ip: { type: INET, allowNull: false },
      isp: { type: TEXT, allowNull: false, defaultValue: '' },
      countryCode: { type: STRING(2) },
      ...coordinates(),
      createdAt: now(),
      updatedAt: now(),
    },
    options('clients'),
  );

  Speedtest.init(
    {
      id: { type: BIGINT, primaryKey: true, autoIncrement: true },
      startedAt: { type: DATE, allowNull: false },
      engine: { type: TEXT, allowNull: false },
      downloadBps: { type: DOUBLE },
      uploadBps: { type: DOUBLE },
      pingMs: { type: DOUBLE },
      jitterMs: { type: DOUBLE },
      packetLoss: { type: DOUBLE },
      downloadLatencyMs: { type: DOUBLE },
      downloadJitterMs: { type: DOUBLE },
      uploadLatencyMs: { type: DOUBLE },
      uploadJitterMs: { type: DOUBLE },
      sourceAddress: { type: INET },
      sourceInterface: { type: TEXT },
      ipFamily: { type: SMALLINT },
      bytesReceived: { type: BIGINT },
      bytesSent: { type: BIGINT },
      durationMs: { type: DOUBLE },
      resultUrl: { type: TEXT },
      selfTest: { type: BOOLEAN, allowNull: false, defaultValue: false },
      raw: { type: JSONB, allowNull: false, defaultValue: {} },
    },
    options('speedtests'),
  );

  SpeedtestServerPing.init(
    {
      speedtestId: { type: BIGINT, primaryKey: true },
      serverId: { type: INTEGER, primaryKey: true },
      latencyMs: { type: DOUBLE },
      distanceKm: { type: DOUBLE },
      chosen: { type: BOOLEAN, allowNull: false, defaultValue: false },
    },
    options('speedtest_server_pings'),
  );

  Probe.init(
    {
      id: { type: INTEGER, primaryKey: true, autoIncrement: true },
      name: { type: TEXT, allowNull: false },
      kind: { type: TEXT, allowNull: false },
      targets: { type: ARRAY(TEXT), allowNull: false },
      periodSeconds: { type: INTEGER, allowNull: false },
      timeoutMs: { type: INTEGER, allowNull: false },
      failuresForOutage: { type: INTEGER, allowNull: false, defaultValue: 2 },
      sourceAddress: { type: INET },
      family: { type: SMALLINT },
      speedtestOnRecovery: { type: BOOLEAN, allowNull: false, defaultValue: true },
      enabled: { type: BOOLEAN, allowNull: false, defaultValue: true },
      createdAt: now(),
      updatedAt: now(),
    },
    options('probes'),
  );

  ProbeOutage.init(
    {
      id: { type: BIGINT, primaryKey: true, autoIncrement: true },
      startedAt: { type: DATE, allowNull: false },
      endedAt: { type: DATE },
      failedRounds: { type: INTEGER, allowNull: false, defaultValue: 0 },
      lastError: { type: TEXT, allowNull: false, defaultValue: '' },
    },
    options('probe_outages'),
  );

  User.init(
    {
      id: { type: INTEGER, primaryKey: true, autoIncrement: true },
      username: { type: TEXT, allowNull: false },
      passwordHash: { type: TEXT, allowNull: false },
      isAdmin: { type: BOOLEAN, allowNull: false, defaultValue: false },
      isActive: { type: BOOLEAN, allowNull: false, defaultValue: true },
      lastLoginAt: { type: DATE },
      createdAt: now(),
      updatedAt: now(),
    },
    options('users'),
  );

  ApiToken.init(
    {
      id: { type: INTEGER, primaryKey: true, autoIncrement: true },
      name: { type: TEXT, allowNull: false },
      tokenHash: { type: TEXT, allowNull: false },
      prefix: { type: TEXT, allowNull: false },
      expiresAt: { type: DATE },
      lastUsedAt: { type: DATE },
      createdAt: now(),
    },
    options('api_tokens'),
  );

  Session.init(
    {
      sid: { type: TEXT, primaryKey: true },
      data: { type: JSONB, allowNull: false },
      expiresAt: { type: DATE, allowNull: false },
    },
    options('sessions'),
  );

  PeriodicTask.hasMany(TaskResult, { foreignKey: 'periodicTaskId' });
  TaskResult.belongsTo(PeriodicTask, { foreignKey: 'periodicTaskId' });
  Speedtest.belongsTo(SpeedtestServer, { foreignKey: 'serverId', as: 'server' });
  Speedtest.belongsTo(Client, { foreignKey: 'clientId', as: 'client' });
  Speedtest.belongsTo(TaskResult, { foreignKey: 'taskResultId' });
  Speedtest.hasMany(SpeedtestServerPing, { foreignKey: 'speedtestId', as: 'pings' });
  SpeedtestServerPing.belongsTo(SpeedtestServer, { foreignKey: 'serverId', as: 'server' });
  Probe.hasMany(ProbeOutage, { foreignKey: 'probeId', as: 'outages' });
  ProbeOutage.belongsTo(Probe, { foreignKey: 'probeId' });
  User.hasMany(ApiToken, { foreignKey: 'userId' });
  ApiToken.belongsTo(User, { foreignKey: 'userId' });
  User.hasMany(Session, { foreignKey: 'userId' });
  Session.belongsTo(User, { foreignKey: 'userId' });

  return {
    PeriodicTask,
    TaskResult,
    SpeedtestServer,
    Client,
    Speedtest,
    SpeedtestServerPing,
    Probe,
    ProbeOutage,
    User,
    ApiToken,
    Session,
  };
}

export type Models = ReturnType<typeof initModels>;

// The row types, under the names the rest of the code uses.
export type PeriodicTask = PeriodicTaskBase;
export type TaskResult = TaskResultBase;
export type SpeedtestServer = SpeedtestServerBase;
export type Client = ClientBase;
export type Speedtest = SpeedtestBase;
export type SpeedtestServerPing = SpeedtestServerPingBase;
export type Probe = ProbeBase;
export type ProbeOutage = ProbeOutageBase;
export type User = UserBase;
export type ApiToken = ApiTokenBase;
export type Session = SessionBase;
