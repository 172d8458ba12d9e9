// The images a deployment runs, the versions pinned and tried together, and the one rule of what
// counts as pinned. The deployment configuration validates its `images` overrides with this rule
// and the synth policy (infra/policy.ts) checks the synthesized stack with it, so an override
// cannot pass the first check and fail the second.
import packageJson from '../../package.json' with { type: 'json' };
import type { DeploymentConfig } from '../config.ts';

/** Every image the service catalogue runs; each can be overridden in `images`. */
export const IMAGE_NAMES = [
  'app',
  'swag',
  'postgres',
  'redis',
  'grafana',
  'prometheus',
  'nodeExporter',
  'cadvisor',
  'postgresExporter',
  'redisExporter',
  'alertmanager',
] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

/** Versions pinned and tried together; `images` in the deployment configuration overrides them. */
export const DEFAULT_IMAGES: Readonly<Record<ImageName, string>> = {
  /** Built on the VM (or the laptop) from app/Dockerfile; nothing is pulled. */
  app: `refresher-app:${packageJson.version}`,
  swag: 'lscr.io/linuxserver/swag:4.1.1',
  postgres: 'postgres:17.6-bookworm',
  redis: 'redis:7.4.5-bookworm',
  grafana: 'grafana/grafana:12.1.1',
  prometheus: 'prom/prometheus:v3.5.0',
  nodeExporter: 'prom/node-exporter:v1.9.1',
  cadvisor: 'gcr.io/cadvisor/cadvisor:v0.52.1',
  postgresExporter: 'quay.io/prometheuscommunity/postgres-exporter:v0.17.1',
  redisExporter: 'oliver006/redis_exporter:v1.74.0',
  alertmanager: 'prom/alertmanager:v0.28.1',
};

export function image(config: Pick<DeploymentConfig, 'images'>, name: ImageName): string {
  return config.images[name] ?? DEFAULT_IMAGES[name];
}

const REFERENCE =
  /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/**
 * What is wrong with an image reference as a pin, or undefined when it is pinned: a digest, or a
 * tag that names a version (it has a digit). `latest`, `alpine` or `bookworm` move under you.
 */
export function imagePinProblem(reference: string): string | undefined {
  if (!REFERENCE.test(reference))
    return 'expected an image reference such as postgres:17.6 or ghcr.io/owner/name:1.2.3';
  if (/@sha256:[a-f0-9]{64}$/.test(reference)) return undefined;
  // A registry's port (host:5000/name) is not a tag.
  const tag = /:([\w][\w.-]{0,127})$/.exec(reference.replace(/^[^/]*:\d+\//, ''))?.[1];
  if (tag === undefined)
    return 'expected a pinned version: add a tag (name:1.2.3) or a digest (name@sha256:…)';
  if (tag === 'latest') return '"latest" is not a version: pin the tag you tested';
  if (!/\d/.test(tag))
    return `"${tag}" is not a version (it moves with every release): pin a tag with a version such as name:1.2.3, or a digest`;
  return undefined;
}

export function isPinnedImage(reference: string): boolean {
  return imagePinProblem(reference) === undefined;
}
