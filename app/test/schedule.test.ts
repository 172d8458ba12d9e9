// The schedule module's pure functions, without a database: the schema the API and admin forms
// share, the mapping to rows and to BullMQ options, the revision that names job schedulers and the
// run times shown to users. A mistake here reaches every periodic task, so exact values throughout.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  crontabProblem,
  isValidTimezone,
  nextRunTimes,
  periodicTaskSchema,
  repeatOptions,
  rowToSpec,
  scheduleRevision,
  specToColumns,
  type PeriodicTaskColumns,
} from '../src/queue/schedule.ts';
import { issuesOf, parseOrThrow, type ValidationError } from '../src/validation.ts';
import { testRegistry } from './helpers/tasks.ts';

const schema = periodicTaskSchema(testRegistry());
const MINUTE = 60_000;
const DAY = 86_400_000;

// Loose on purpose: most inputs here are meant to be wrong.
type Input = Record<string, unknown>;

function input(overrides: Input = {}): Record<string, unknown> {
  return {
    name: 'echo',
    task: 'test.echo',
    schedule: { type: 'interval', every: 10, period: 'minutes' },
    ...overrides,
  };
}

/** The row a valid input becomes, as the scheduler reads it back from the table. */
function columns(overrides: Input = {}, id = 1): PeriodicTaskColumns & { id: number } {
  return { id, ...specToColumns(schema.parse(input(overrides))) };
}

/** Every issue as "path: message", the way a ValidationError reports it. */
function problems(value: unknown): string[] {
  const parsed = schema.safeParse(value);
  return parsed.success ? [] : issuesOf(parsed.error).map((i) => `${i.path}: ${i.message}`);
}

const iso = (dates: Date[]) => dates.map((date) => date.toISOString());

describe('crontabProblem', () => {
  test('valid expressions have no problem, whatever the spacing', () => {
    for (const expression of ['0 9 * * 1-5', '*/15 * * * *', '  30 2 1,15 * 0 ', '0 0 * * 7']) {
      assert.equal(crontabProblem(expression), null, expression);
    }
  });

  test('a bad field is named with the value it holds', () => {
    const cases: [string, string, string][] = [
      ['0 25 * * *', 'hour field "25": ', '0-23'],
      ['61 * * * *', 'minute field "61": ', '0-59'],
      ['0 9 * * 8', 'day-of-week field "8": ', '0-7'],
      ['0 9 0 * *', 'day-of-month field "0": ', '1-31'],
      ['0 9 * 13 *', 'month field "13": ', '1-12'],
      ['x 9 * * *', 'minute field "x": ', 'x'],
    ];
    for (const [expression, prefix, detail] of cases) {
      const problem = crontabProblem(expression) ?? '';
      assert.ok(problem.startsWith(prefix), `${expression}: ${problem}`);
      assert.ok(problem.includes(detail), `${expression}: ${problem}`);
    }
  });

  test('the wrong number of fields is said before anything else', () => {
    const expected = (count: number) =>
      `expected 5 fields (minute hour day-of-month month day-of-week), got ${count}`;
    assert.equal(crontabProblem('0 9 * *'), expected(4));
    // Six fields would be read by cron-parser as seconds first: a silent shift of every field.
    assert.equal(crontabProblem('0 0 9 * * *'), expected(6));
    assert.equal(crontabProblem(''), expected(1));
  });

  test('fields valid alone but impossible together are still refused', () => {
    const problem = crontabProblem('0 0 31 2 *');
    assert.equal(typeof problem, 'string');
    assert.doesNotMatch(problem ?? '', /field "/);
  });
});

describe('isValidTimezone', () => {
  test('IANA names are accepted and anything else refused', () => {
    for (const zone of ['UTC', 'Europe/Paris', 'America/New_York', 'Asia/Kolkata']) {
      assert.equal(isValidTimezone(zone), true, zone);
    }
    for (const zone of ['Mars/Olympus', 'Europe/Pariss', '', '+25:00']) {
      assert.equal(isValidTimezone(zone), false, zone);
    }
  });
});

describe('periodicTaskSchema', () => {
  const defaults = {
    args: [],
    kwargs: {},
    startTime: null,
    expiresAt: null,
    oneOff: false,
    enabled: true,
    jitterSeconds: 0,
    priority: null,
    queue: null,
    description: '',
  };

  test('an interval schedule parses with every default filled in', () => {
    assert.deepEqual(schema.parse(input({ name: '  echo  ' })), {
      name: 'echo',
      task: 'test.echo',
      schedule: { type: 'interval', every: 10, period: 'minutes' },
      ...defaults,
    });
  });

  test('a crontab schedule is trimmed and defaults to UTC', () => {
    const spec = schema.parse(
      input({ schedule: { type: 'crontab', expression: '  0 9 * * 1-5 ' }, kwargs: { value: 1 } }),
    );
    assert.deepEqual(spec.schedule, {
      type: 'crontab',
      expression: '0 9 * * 1-5',
      timezone: 'UTC',
    });
    assert.deepEqual(spec.kwargs, { value: 1 });
  });

  test('a clocked schedule and the dates accept ISO strings', () => {
    const spec = schema.parse(
      input({
        schedule: { type: 'clocked', at: '2026-11-01T08:00:00Z' },
        startTime: '2026-10-01T00:00:00Z',
        expiresAt: '2026-12-01T00:00:00Z',
        priority: 5,
        queue: 'speedtests',
      }),
    );
    assert.deepEqual(spec, {
      name: 'echo',
      task: 'test.echo',
      schedule: { type: 'clocked', at: new Date('2026-11-01T08:00:00Z') },
      ...defaults,
      startTime: new Date('2026-10-01T00:00:00Z'),
      expiresAt: new Date('2026-12-01T00:00:00Z'),
      priority: 5,
      queue: 'speedtests',
    });
  });

  test('every invalid field is reported on its own path, and only there', () => {
    const interval = (every: unknown, period: unknown = 'minutes') => ({
      schedule: { type: 'interval', every, period },
    });
    const cases: [string, Input, string[]][] = [
      ['every 0', interval(0), ['schedule.every: expected a number greater than 0']],
      ['every -1', interval(-1), ['schedule.every: expected a number greater than 0']],
      ['every 1.5', interval(1.5), ['schedule.every: expected a whole number']],
      ['weeks', interval(1, 'weeks'), ['schedule.period: ']],
      [
        'unknown timezone',
        { schedule: { type: 'crontab', expression: '0 9 * * *', timezone: 'Mars/Olympus' } },
        ['schedule.timezone: unknown timezone "Mars/Olympus"'],
      ],
      [
        'bad crontab',
        { schedule: { type: 'crontab', expression: '0 25 * * *' } },
        ['schedule.expression: hour field "25": '],
      ],
      [
        'unknown task',
        { task: 'no.such.task' },
        [
          'task: unknown task "no.such.task"; known tasks: test.echo, test.flaky, test.sleep, test.timeout',
        ],
      ],
      [
        'kwargs of the task, wrong type',
        { task: 'test.sleep', kwargs: { ms: 'soon' } },
        ['kwargs.ms: '],
      ],
      ['kwargs, not an object', { kwargs: [1, 2] }, ['kwargs: ']],
      ['kwargs the task does not know', { kwargs: { colour: 'red' } }, ['kwargs: ']],
      ['args', { args: [1] }, ['args: test.echo takes keyword arguments only']],
      [
        'expiresAt before startTime',
        { startTime: '2026-02-01T00:00:00Z', expiresAt: '2026-01-01T00:00:00Z' },
        ['expiresAt: expected a time after startTime'],
      ],
      [
        'expiresAt equal to startTime',
        { startTime: '2026-02-01T00:00:00Z', expiresAt: '2026-02-01T00:00:00Z' },
        ['expiresAt: expected a time after startTime'],
      ],
      ['empty name', { name: '' }, ['name: expected a name']],
      ['blank name', { name: '   ' }, ['name: expected a name']],
      ['priority 0', { priority: 0 }, ['priority: ']],
      ['unknown queue', { queue: 'urgent' }, ['queue: ']],
    ];
    for (const [label, overrides, expected] of cases) {
      const found = problems(input(overrides));
      assert.equal(found.length, expected.length, `${label}: ${found.join(' | ')}`);
      for (const [index, start] of expected.entries()) {
        assert.ok(found[index]?.startsWith(start), `${label}: ${found[index]}`);
      }
    }
  });

  test('an unknown top-level key is refused by name', () => {
    const parsed = schema.safeParse(input({ colour: 'red' }));
    assert.equal(parsed.success, false);
    // zod reports unknown keys on the object that holds them, the key itself in `keys`.
    assert.deepEqual(
      parsed.error?.issues.map((issue) => ({
        code: issue.code,
        path: issue.path,
        message: issue.message,
      })),
      [{ code: 'unrecognized_keys', path: [], message: 'Unrecognized key: "colour"' }],
    );
    // ValidationError moves it onto the key, so a form can mark the field at fault.
    assert.throws(
      () => parseOrThrow(schema, input({ colour: 'red', shade: 'dark' })),
      (error: ValidationError) => {
        assert.deepEqual(error.issues, [
          { path: 'colour', message: 'unknown field' },
          { path: 'shade', message: 'unknown field' },
        ]);
        return true;
      },
    );
  });

  test('several problems are all reported at once', () => {
    const paths = (value: unknown) => problems(value).map((line) => line.split(':')[0]);
    assert.deepEqual(
      paths(input({ name: '', task: 'test.sleep', kwargs: { ms: -1 }, args: ['x'], priority: 0 })),
      ['name', 'priority', 'args', 'kwargs.ms'],
    );
    // A value of the wrong type stops zod before the checks that need the task registry.
    assert.deepEqual(paths(input({ enabled: 'yes', args: ['x'] })), ['enabled']);
  });
});

describe('specToColumns and rowToSpec', () => {
  const full = {
    name: 'nightly',
    task: 'test.echo',
    kwargs: { value: 'x' },
    startTime: new Date('2026-01-01T00:00:00Z'),
    expiresAt: new Date('2027-01-01T00:00:00Z'),
    enabled: false,
    priority: 7,
    queue: 'speedtests' as const,
    description: 'every night',
  };

  test('interval and crontab specs survive the round trip through columns exactly', () => {
    for (const schedule of [
      { type: 'interval', every: 2, period: 'hours' },
      { type: 'crontab', expression: '30 2 * * *', timezone: 'Europe/Paris' },
    ]) {
      const spec = schema.parse({ ...full, schedule });
      assert.deepEqual(rowToSpec(specToColumns(spec)), spec);
    }
  });

  test('each schedule fills its own columns and clears the others', () => {
    const pick = (row: PeriodicTaskColumns) => [
      row.scheduleType,
      row.intervalEvery,
      row.intervalPeriod,
      row.crontab,
      row.timezone,
      row.clockedAt?.toISOString() ?? null,
      row.oneOff,
    ];
    assert.deepEqual(pick(columns()), ['interval', 10, 'minutes', null, 'UTC', null, false]);
    assert.deepEqual(
      pick(
        columns({ schedule: { type: 'crontab', expression: '0 9 * * *', timezone: 'Asia/Tokyo' } }),
      ),
      ['crontab', null, null, '0 9 * * *', 'Asia/Tokyo', null, false],
    );
    assert.deepEqual(pick(columns({ schedule: { type: 'clocked', at: '2026-11-01T08:00:00Z' } })), [
      'clocked',
      null,
      null,
      null,
      'UTC',
      '2026-11-01T08:00:00.000Z',
      true,
    ]);
  });

  test('a clocked spec comes back one-off, everything else unchanged', () => {
    const spec = schema.parse({
      ...full,
      schedule: { type: 'clocked', at: '2026-11-01T08:00:00Z' },
    });
    assert.equal(spec.oneOff, false);
    assert.deepEqual(rowToSpec(specToColumns(spec)), { ...spec, oneOff: true });
  });
});

describe('repeatOptions', () => {
  const start = new Date('2026-03-01T00:00:00Z');
  const end = new Date('2026-04-01T00:00:00Z');

  test('interval: every in milliseconds, start and end dates, limit 1 when one-off', () => {
    assert.deepEqual(repeatOptions(columns()), { every: 10 * MINUTE });
    assert.deepEqual(
      repeatOptions(columns({ schedule: { type: 'interval', every: 3, period: 'days' } })),
      { every: 3 * DAY },
    );
    assert.deepEqual(
      repeatOptions(
        columns({
          schedule: { type: 'interval', every: 45, period: 'seconds' },
          startTime: start,
          expiresAt: end,
          oneOff: true,
        }),
      ),
      { every: 45_000, startDate: start.getTime(), endDate: end.getTime(), limit: 1 },
    );
  });

  test('crontab: the pattern with its timezone', () => {
    assert.deepEqual(
      repeatOptions(
        columns({
          schedule: { type: 'crontab', expression: '0 9 * * 1-5', timezone: 'Europe/Paris' },
        }),
      ),
      { pattern: '0 9 * * 1-5', tz: 'Europe/Paris' },
    );
    assert.deepEqual(
      repeatOptions(
        columns({
          schedule: { type: 'crontab', expression: '0 9 * * *' },
          startTime: start,
          expiresAt: end,
        }),
      ),
      { pattern: '0 9 * * *', tz: 'UTC', startDate: start.getTime(), endDate: end.getTime() },
    );
  });

  test('clocked: starts at its instant, runs once, ignores startTime', () => {
    const at = new Date('2026-03-15T12:00:00Z');
    assert.deepEqual(
      repeatOptions(columns({ schedule: { type: 'clocked', at }, startTime: start })),
      {
        every: 365 * DAY,
        startDate: at.getTime(),
        limit: 1,
      },
    );
  });
});

describe('scheduleRevision', () => {
  const jobDefaults = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, timeout: 5 };
  const base = () =>
    columns({ schedule: { type: 'interval', every: 10, period: 'minutes' }, kwargs: { value: 1 } });
  const revision = (row = base(), defaults: object = jobDefaults) =>
    scheduleRevision(row, defaults);

  test('is a short hex digest, the same on every call', () => {
    const first = revision();
    assert.match(first, /^[0-9a-f]{16}$/);
    assert.equal(revision(), first);
  });

  test('does not depend on key order, in the row, the kwargs or the job defaults', () => {
    const reversed = <T extends object>(value: T) =>
      Object.fromEntries(Object.entries(value).reverse()) as T;
    const row = base();
    const shuffled = reversed({ ...row, kwargs: reversed({ a: 1, b: { c: 2, d: 3 } }) });
    const ordered = { ...row, kwargs: { a: 1, b: { c: 2, d: 3 } } };
    assert.equal(
      revision(shuffled, reversed(jobDefaults)),
      revision(ordered, { ...jobDefaults, backoff: reversed(jobDefaults.backoff) }),
    );
  });

  test('changes with anything that decides what runs and when', () => {
    const original = revision();
    const at = new Date('2026-06-01T00:00:00Z');
    const variants: [string, string][] = [
      ['every', revision({ ...base(), intervalEvery: 11 })],
      ['period', revision({ ...base(), intervalPeriod: 'hours' })],
      [
        'crontab',
        revision(
          columns({ schedule: { type: 'crontab', expression: '0 9 * * *' }, kwargs: { value: 1 } }),
        ),
      ],
      ['startTime', revision({ ...base(), startTime: at })],
      ['expiresAt', revision({ ...base(), expiresAt: at })],
      ['oneOff', revision({ ...base(), oneOff: true })],
      ['kwargs', revision({ ...base(), kwargs: { value: 2 } })],
      ['priority', revision({ ...base(), priority: 1 })],
      ['queue', revision({ ...base(), queue: 'speedtests' })],
      ['task', revision({ ...base(), task: 'test.sleep' })],
      ['id', revision({ ...base(), id: 2 })],
      ['job defaults', revision(base(), { ...jobDefaults, attempts: 4 })],
      [
        'nested job defaults',
        revision(base(), { ...jobDefaults, backoff: { type: 'fixed', delay: 1000 } }),
      ],
    ];
    for (const [label, changed] of variants) assert.notEqual(changed, original, label);
    assert.equal(new Set(variants.map(([, value]) => value)).size, variants.length);

    const tzRow = (timezone: string) =>
      revision(columns({ schedule: { type: 'crontab', expression: '0 9 * * *', timezone } }));
    assert.notEqual(tzRow('Europe/Paris'), tzRow('UTC'));
    const clocked = (at: string) => revision(columns({ schedule: { type: 'clocked', at } }));
    assert.notEqual(clocked('2026-06-01T00:00:00Z'), clocked('2026-06-01T00:00:01Z'));
  });

  test('ignores what only describes the task', () => {
    const original = revision();
    assert.equal(revision({ ...base(), name: 'renamed', description: 'new words' }), original);
  });
});

describe('nextRunTimes', () => {
  const from = new Date('2026-05-10T12:00:00Z');
  const plus = (ms: number) => new Date(from.getTime() + ms);
  const at = (minutes: number) => plus(minutes * MINUTE).toISOString();

  test('interval: from now when it never ran', () => {
    assert.deepEqual(iso(nextRunTimes(columns(), 3, from)), [at(0), at(10), at(20)]);
  });

  test('interval: one interval after the last run, or now when that is already past', () => {
    const row = { ...columns(), lastRunAt: plus(-3 * MINUTE) };
    assert.deepEqual(iso(nextRunTimes(row, 3, from)), [at(7), at(17), at(27)]);
    const overdue = { ...columns(), lastRunAt: plus(-60 * MINUTE) };
    assert.deepEqual(iso(nextRunTimes(overdue, 2, from)), [at(0), at(10)]);
  });

  test('interval: not before startTime, not after expiresAt', () => {
    assert.deepEqual(iso(nextRunTimes(columns({ startTime: plus(90 * MINUTE) }), 2, from)), [
      at(90),
      at(100),
    ]);
    // A run exactly at expiresAt still happens; the next one does not.
    assert.deepEqual(iso(nextRunTimes(columns({ expiresAt: plus(20 * MINUTE) }), 10, from)), [
      at(0),
      at(10),
      at(20),
    ]);
  });

  test('crontab in Europe/Paris keeps local time across the end of summer time', () => {
    const paris = (expression: string) =>
      columns({ schedule: { type: 'crontab', expression, timezone: 'Europe/Paris' } });
    const start = new Date('2026-10-23T00:00:00Z');
    // 09:00 is 07:00Z in summer time (UTC+2) and 08:00Z from 25 October (UTC+1).
    assert.deepEqual(iso(nextRunTimes(paris('0 9 * * *'), 4, start)), [
      '2026-10-23T07:00:00.000Z',
      '2026-10-24T07:00:00.000Z',
      '2026-10-25T08:00:00.000Z',
      '2026-10-26T08:00:00.000Z',
    ]);
    // 02:30 happens twice on 25 October (clocks go from 03:00 back to 02:00); it runs once.
    assert.deepEqual(iso(nextRunTimes(paris('30 2 * * *'), 4, start)), [
      '2026-10-23T00:30:00.000Z',
      '2026-10-24T00:30:00.000Z',
      '2026-10-25T00:30:00.000Z',
      '2026-10-26T01:30:00.000Z',
    ]);
  });

  test('crontab: a run due exactly now is included, and expiresAt ends the list', () => {
    const daily = (overrides: Input = {}) =>
      columns({ schedule: { type: 'crontab', expression: '0 12 * * *' }, ...overrides });
    assert.deepEqual(iso(nextRunTimes(daily(), 2, from)), [at(0), at(DAY / MINUTE)]);
    assert.deepEqual(iso(nextRunTimes(daily({ expiresAt: plus(DAY) }), 5, from)), [
      at(0),
      at(DAY / MINUTE),
    ]);
    assert.deepEqual(iso(nextRunTimes(daily({ startTime: plus(DAY + 1) }), 1, from)), [
      at((2 * DAY) / MINUTE),
    ]);
  });

  test('clocked: its one instant, nothing once it ran, now when it is overdue', () => {
    const clocked = (when: Date, overrides: Input = {}) =>
      columns({ schedule: { type: 'clocked', at: when }, ...overrides });
    assert.deepEqual(iso(nextRunTimes(clocked(plus(DAY)), 5, from)), [at(DAY / MINUTE)]);
    assert.deepEqual(
      nextRunTimes({ ...clocked(plus(DAY)), lastRunAt: plus(-MINUTE) }, 5, from),
      [],
    );
    assert.deepEqual(iso(nextRunTimes(clocked(plus(-MINUTE)), 5, from)), [at(0)]);
    assert.deepEqual(nextRunTimes(clocked(plus(DAY), { expiresAt: plus(MINUTE) }), 5, from), []);
  });

  test('disabled: nothing; one-off: at most one', () => {
    assert.deepEqual(nextRunTimes(columns({ enabled: false }), 5, from), []);
    assert.deepEqual(iso(nextRunTimes(columns({ oneOff: true }), 5, from)), [at(0)]);
    const cron = {
      schedule: { type: 'crontab', expression: '*/5 * * * *' },
      oneOff: true,
    } as const;
    assert.deepEqual(iso(nextRunTimes(columns(cron), 5, from)), [at(0)]);
    assert.deepEqual(nextRunTimes(columns({ oneOff: true }), 0, from), []);
  });
});
