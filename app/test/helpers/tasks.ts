// Tasks that exist only in tests: they make the worker's behaviour observable and controllable.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineTask, TaskRegistry, type TaskDefinition } from '../../src/tasks/registry.ts';

export const echoTask = defineTask({
  name: 'test.echo',
  description: 'Returns its kwargs.',
  queue: 'default',
  kwargs: z.object({ value: z.unknown().optional() }).strict(),
  attempts: 1,
  backoffMs: 100,
  timeoutMs: 5_000,
  async run(kwargs, context) {
    context.log(`echo ${JSON.stringify(kwargs.value)}`);
    return { value: kwargs.value ?? null, attempt: context.attempt };
  },
});

/** Fails on every attempt before `succeedOnAttempt`; never succeeds when it is 0. */
export const flakyTask = defineTask({
  name: 'test.flaky',
  description: 'Fails until a given attempt.',
  queue: 'default',
  kwargs: z.object({ succeedOnAttempt: z.int().min(0) }).strict(),
  attempts: 3,
  backoffMs: 200,
  timeoutMs: 5_000,
  async run(kwargs, context) {
    if (kwargs.succeedOnAttempt === 0 || context.attempt < kwargs.succeedOnAttempt) {
      throw new Error(`planned failure on attempt ${context.attempt}`);
    }
    return { attempt: context.attempt };
  },
});

/** Sleeps; `ignoreAbort` makes it ignore its abort signal, like a badly written handler. */
export const sleepTask = defineTask({
  name: 'test.sleep',
  description: 'Sleeps for a while.',
  queue: 'default',
  kwargs: z.object({ ms: z.int().min(0), ignoreAbort: z.boolean().default(false) }).strict(),
  attempts: 2,
  backoffMs: 100,
  timeoutMs: 30_000,
  async run(kwargs, context) {
    context.log(`sleeping ${kwargs.ms} ms`);
    await sleep(kwargs.ms, undefined, kwargs.ignoreAbort ? {} : { signal: context.signal });
    return { slept: kwargs.ms, attempt: context.attempt };
  },
});

export const slowTimeoutTask = defineTask({
  ...sleepTask,
  name: 'test.timeout',
  description: 'Sleeps past its own timeout.',
  attempts: 1,
  timeoutMs: 300,
});

export const TEST_TASKS: TaskDefinition[] = [echoTask, flakyTask, sleepTask, slowTimeoutTask];

export function testRegistry(extra: TaskDefinition[] = []): TaskRegistry {
  return new TaskRegistry([...TEST_TASKS, ...extra]);
}
