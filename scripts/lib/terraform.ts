// Terraform, driven directly in a synthesized stack's folder (cdktf.out/stacks/<stack>), the way
// `cdktf deploy` drives it but without the cdktf CLI (whose node-pty dependency does not install
// on every Node version): init, a plan saved to a file, that plan summarised, then applied as is.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { $, type ProcessOutput } from 'zx';

/** The plan's file in the stack's folder: holds secrets, so it is removed after each use. */
export const PLAN_FILE = 'refresher.tfplan';

export class TerraformError extends Error {
  override name = 'TerraformError';
  /** The stack (azure, services) and the Terraform step (init, plan, apply…) that failed. */
  readonly stackName: string;
  readonly step: string;
  constructor(stackName: string, step: string, message: string) {
    super(message);
    this.stackName = stackName;
    this.step = step;
  }
}

/** One resource's planned change, as `terraform show -json` reports it. */
export interface PlannedChange {
  address: string;
  type: string;
  actions: string[];
}

export interface PlanSummary {
  /** Whether applying the plan changes anything: resources or outputs (plan's exit code 2). */
  changed: boolean;
  changes: PlannedChange[];
  /** Outputs the plan adds, changes or removes (a new cross-stack output, name_servers). */
  outputs: string[];
  create: number;
  update: number;
  replace: number;
  destroy: number;
}

interface StateResource {
  address: string;
  type: string;
  values?: Record<string, unknown>;
}

interface StateModule {
  resources?: StateResource[];
  child_modules?: StateModule[];
}

export function summarisePlan(
  plan: {
    resource_changes?: { address: string; type: string; change: { actions: string[] } }[];
    output_changes?: Record<string, { actions: string[] }>;
  },
  /** From the plan's exit code (-detailed-exitcode: 2); a plan of outputs only is a change too. */
  changed: boolean,
): PlanSummary {
  const changes = (plan.resource_changes ?? [])
    .map((change) => ({
      address: change.address,
      type: change.type,
      actions: change.change.actions,
    }))
    .filter(
      (change) => !(change.actions.length === 1 && ['no-op', 'read'].includes(change.actions[0]!)),
    );
  const count = (test: (actions: string[]) => boolean) =>
    changes.filter((change) => test(change.actions)).length;
  const outputs = Object.entries(plan.output_changes ?? {})
    .filter(([, change]) => !(change.actions.length === 1 && change.actions[0] === 'no-op'))
    .map(([name]) => name);
  return {
    changed,
    changes,
    outputs,
    create: count((a) => a.length === 1 && a[0] === 'create'),
    update: count((a) => a.length === 1 && a[0] === 'update'),
    replace: count((a) => a.length === 2),
    destroy: count((a) => a.length === 1 && a[0] === 'delete'),
  };
}

/** `+ create docker_container.x` lines, in Terraform's own symbols. */
export function describeChanges(summary: PlanSummary): string[] {
  const symbol = (actions: string[]) =>
    actions.length === 2
      ? actions[0] === 'delete'
        ? '-/+'
        : '+/-'
      : (({ create: '+', update: '~', delete: '-' } as Record<string, string>)[actions[0]!] ?? '?');
  const verb = (actions: string[]) =>
    actions.length === 2 ? 'replace' : actions[0] === 'delete' ? 'destroy' : actions[0]!;
  return summary.changes.map(
    (change) =>
      `  ${symbol(change.actions).padEnd(3)} ${verb(change.actions).padEnd(7)} ${change.address}`,
  );
}

export function countsLine(summary: PlanSummary): string {
  return `${summary.create} to create, ${summary.update} to update, ${summary.replace} to replace, ${summary.destroy} to destroy`;
}

/** All resources of a state (`terraform show -json` without a plan), child modules included. */
export function stateResources(state: { values?: { root_module?: StateModule } }): StateResource[] {
  const walk = (module: StateModule | undefined): StateResource[] =>
    module ? [...(module.resources ?? []), ...(module.child_modules ?? []).flatMap(walk)] : [];
  return walk(state.values?.root_module);
}

/** Terraform in one stack's folder; every failure names the stack and the step. */
export class TerraformStack {
  readonly name: string;
  /** The synthesized stack's folder (cdktf.out/stacks/<name>), where Terraform runs. */
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(name: string, dir: string, env: NodeJS.ProcessEnv = process.env) {
    this.name = name;
    this.dir = dir;
    this.env = env;
  }

  private async run(
    step: string,
    args: string[],
    options: { show?: boolean; okCodes?: number[] } = {},
  ): Promise<ProcessOutput> {
    const result = await $({
      cwd: this.dir,
      env: { ...this.env, TF_IN_AUTOMATION: '1', TF_INPUT: '0' },
      nothrow: true,
      quiet: !options.show,
      stdio: options.show ? ['inherit', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    })`terraform ${args}`;
    if (result.exitCode === null || !(options.okCodes ?? [0]).includes(result.exitCode)) {
      const detail = options.show
        ? 'see its output above'
        : result.stderr.trim().split('\n').slice(-15).join('\n');
      throw new TerraformError(
        this.name,
        step,
        `terraform ${args[0]} failed in stack ${this.name} (exit ${result.exitCode})${detail ? `: ${detail}` : ''}`,
      );
    }
    return result;
  }

  async init(): Promise<void> {
    await this.run('init', ['init', '-input=false', '-no-color']);
  }

  /** Plans to PLAN_FILE; returns whether anything would change. */
  async plan(options: { destroy?: boolean; replace?: string[] } = {}): Promise<PlanSummary> {
    const planned = await this.run(
      options.destroy ? 'plan -destroy' : 'plan',
      [
        'plan',
        '-input=false',
        '-no-color',
        '-detailed-exitcode',
        `-out=${PLAN_FILE}`,
        ...(options.destroy ? ['-destroy'] : []),
        ...(options.replace ?? []).map((address) => `-replace=${address}`),
      ],
      { okCodes: [0, 2] },
    );
    try {
      const shown = await this.run('show plan', ['show', '-json', '-no-color', PLAN_FILE]);
      // -detailed-exitcode: 0 means nothing to do, 2 means changes (resources or outputs).
      return summarisePlan(
        JSON.parse(shown.stdout) as Parameters<typeof summarisePlan>[0],
        planned.exitCode === 2,
      );
    } catch (error) {
      this.forgetPlan();
      throw error;
    }
  }

  /** Applies the saved plan exactly, its output shown; the plan file goes away either way. */
  async apply(): Promise<void> {
    try {
      await this.run('apply', ['apply', '-input=false', '-no-color', PLAN_FILE], { show: true });
    } finally {
      this.forgetPlan();
    }
  }

  forgetPlan(): void {
    const file = join(this.dir, PLAN_FILE);
    if (existsSync(file)) rmSync(file);
  }

  /** The stack's outputs by name (values only). */
  async outputs(): Promise<Record<string, unknown>> {
    const result = await this.run('output', ['output', '-json', '-no-color']);
    const parsed = JSON.parse(result.stdout || '{}') as Record<string, { value: unknown }>;
    return Object.fromEntries(Object.entries(parsed).map(([key, { value }]) => [key, value]));
  }

  /** The resources Terraform's state holds now (empty before the first apply). */
  async state(): Promise<StateResource[]> {
    const result = await this.run('show state', ['show', '-json', '-no-color']);
    return stateResources(
      JSON.parse(result.stdout || '{}') as Parameters<typeof stateResources>[0],
    );
  }
}
