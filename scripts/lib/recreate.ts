// A container's own settings, read back from `docker inspect`, as the arguments of a `docker run`
// that makes the same container from another image: what upgrade needs to replace an app role
// without the compose file or the Terraform configuration that made it. Only what the
// container set itself is carried over: environment variables, labels, the command and the
// health check that came from the old image are left to the new image, or an upgrade would
// pin the old image's APP_VERSION and its version label on the new one.
import { shellWords } from '../../templates/ssh.ts';

export interface InspectedContainer {
  Name: string;
  Config: {
    Hostname: string;
    User: string;
    Env: string[] | null;
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    Labels: Record<string, string> | null;
    StopTimeout?: number;
    StopSignal?: string;
    Healthcheck?: HealthConfig | null;
    WorkingDir: string;
  };
  HostConfig: {
    NetworkMode: string;
    RestartPolicy: { Name: string; MaximumRetryCount: number };
    Memory: number;
    LogConfig: { Type: string; Config: Record<string, string> | null };
    CapAdd: string[] | null;
    Dns: string[] | null;
    ExtraHosts: string[] | null;
    Init?: boolean | null;
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[] | null> | null;
    Privileged?: boolean;
    Devices?: unknown[] | null;
    Tmpfs?: Record<string, string> | null;
    ReadonlyRootfs?: boolean;
    SecurityOpt?: string[] | null;
    Sysctls?: Record<string, string> | null;
  };
  Mounts: { Type: string; Name?: string; Source: string; Destination: string; RW: boolean }[];
  NetworkSettings: {
    Networks: Record<
      string,
      { Aliases: string[] | null; IPAMConfig: { IPv4Address?: string } | null }
    >;
  };
}

/** Docker's health check settings (durations in nanoseconds). */
export interface HealthConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** The container's own health check as docker run flags (a shell command, as --health-cmd takes). */
function healthArguments(check: HealthConfig): string[] {
  const [kind, ...rest] = check.Test ?? [];
  if (kind === 'NONE') return ['--no-healthcheck'];
  const command = kind === 'CMD-SHELL' ? rest.join(' ') : shellWords(rest);
  const ms = (ns: number | undefined) => (ns ? [`${Math.round(ns / 1e6)}ms`] : []);
  return [
    '--health-cmd', command,
    ...ms(check.Interval).flatMap((d) => ['--health-interval', d]),
    ...ms(check.Timeout).flatMap((d) => ['--health-timeout', d]),
    ...ms(check.StartPeriod).flatMap((d) => ['--health-start-period', d]),
    ...(check.Retries ? ['--health-retries', String(check.Retries)] : []),
  ]; // prettier-ignore
}

export interface InspectedImage {
  Config: {
    Env: string[] | null;
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    Labels: Record<string, string> | null;
    User: string;
    WorkingDir: string;
    Healthcheck?: HealthConfig | null;
  };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/**
 * `docker run -d` arguments (without the image and command) that make `container` again, with
 * the labels in `extraLabels` added; and the command, when the container set one of its own
 * (empty: the new image's own).
 */
export function runArguments(
  container: InspectedContainer,
  oldImage: InspectedImage,
  extraLabels: Record<string, string> = {},
): { args: string[]; command: string[] } {
  const { Config: config, HostConfig: host } = container;
  // Settings this function does not carry over: refused, rather than a container made without them.
  const unsupported = [
    host.Privileged && 'privileged',
    host.Devices?.length && 'devices',
    Object.keys(host.Tmpfs ?? {}).length && 'tmpfs',
    host.ReadonlyRootfs && 'a read-only root',
    host.SecurityOpt?.length && 'security options',
    Object.keys(host.Sysctls ?? {}).length && 'sysctls',
  ].filter(Boolean);
  if (unsupported.length)
    throw new Error(
      `${container.Name} has ${unsupported.join(', ')}: upgrade does not replace such containers`,
    );
  const args = ['--detach', '--name', container.Name.replace(/^\//, '')];
  if (config.Hostname) args.push('--hostname', config.Hostname);
  const imageEnv = new Set(oldImage.Config.Env ?? []);
  for (const variable of config.Env ?? [])
    if (!imageEnv.has(variable)) args.push('--env', variable);
  const imageLabels = oldImage.Config.Labels ?? {};
  for (const [key, value] of Object.entries({ ...config.Labels, ...extraLabels }))
    if (imageLabels[key] !== value || key in extraLabels) args.push('--label', `${key}=${value}`);
  if (config.User && config.User !== oldImage.Config.User) args.push('--user', config.User);
  if (config.WorkingDir && config.WorkingDir !== oldImage.Config.WorkingDir)
    args.push('--workdir', config.WorkingDir);
  if (config.StopTimeout !== undefined) args.push('--stop-timeout', String(config.StopTimeout));
  if (config.StopSignal) args.push('--stop-signal', config.StopSignal);
  // --entrypoint takes one word: the rest of an entry point of its own leads the command.
  const ownEntrypoint =
    config.Entrypoint && !same(config.Entrypoint, oldImage.Config.Entrypoint)
      ? config.Entrypoint
      : undefined;
  if (ownEntrypoint?.length) args.push('--entrypoint', ownEntrypoint[0]!);
  if (config.Healthcheck?.Test && !same(config.Healthcheck, oldImage.Config.Healthcheck))
    args.push(...healthArguments(config.Healthcheck));
  const restart = host.RestartPolicy;
  if (restart.Name && restart.Name !== 'no')
    args.push('--restart', restart.Name === 'on-failure' && restart.MaximumRetryCount ? `on-failure:${restart.MaximumRetryCount}` : restart.Name); // prettier-ignore
  if (host.Memory) args.push('--memory', `${host.Memory}b`);
  if (host.Init) args.push('--init');
  args.push('--log-driver', host.LogConfig.Type);
  for (const [key, value] of Object.entries(host.LogConfig.Config ?? {}))
    args.push('--log-opt', `${key}=${value}`);
  for (const cap of host.CapAdd ?? []) args.push('--cap-add', cap);
  for (const [port, bindings] of Object.entries(host.PortBindings ?? {}))
    for (const binding of bindings ?? [])
      args.push(
        '--publish',
        `${binding.HostIp ? `${binding.HostIp}:` : ''}${binding.HostPort}:${port}`,
      );
  for (const dns of host.Dns ?? []) args.push('--dns', dns);
  for (const extra of host.ExtraHosts ?? []) args.push('--add-host', extra);
  for (const mount of container.Mounts) {
    const source = mount.Type === 'volume' ? mount.Name! : mount.Source;
    args.push('--volume', `${source}:${mount.Destination}${mount.RW ? '' : ':ro'}`);
  }
  const networks = Object.entries(container.NetworkSettings.Networks);
  if (networks.length > 1)
    throw new Error(`${container.Name} is on ${networks.length} networks: upgrade handles one`);
  const [network, settings] = networks[0] ?? [host.NetworkMode, undefined];
  args.push('--network', network);
  if (settings?.IPAMConfig?.IPv4Address) args.push('--ip', settings.IPAMConfig.IPv4Address);
  // Docker adds the short container id as an alias itself; the service name is the one that matters.
  const shortId = /^[0-9a-f]{12}$/;
  for (const alias of settings?.Aliases ?? [])
    if (!shortId.test(alias)) args.push('--network-alias', alias);
  const ownCommand = config.Cmd && !same(config.Cmd, oldImage.Config.Cmd) ? config.Cmd : [];
  return { args, command: [...(ownEntrypoint?.slice(1) ?? []), ...ownCommand] };
}
