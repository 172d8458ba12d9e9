// The forge: stand-ins for every third-party image the stack runs, built here from Debian packages
// over a Debian base made with mmdebstrap, and tagged with the exact names the catalogue and
// app/Dockerfile pin, so the rendered compose file runs unchanged on a machine that cannot pull.
// Each stand-in's folder under stand-ins/ says what it implements of its official image.
//
//   npm run stack:forge            builds what is missing or changed, prints what it did
//
// Cached: every image carries a label with the digest of its inputs (its folder, the files the
// forge adds to its context, the ids of the images it is built FROM); an image whose digest did
// not change is not rebuilt, and Docker is not even asked to.
import { createHash } from 'node:crypto';
import {
  cpSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { REPO_ROOT } from '../../../contract/paths.ts';
import { DEFAULT_IMAGES } from '../../../templates/catalogue/index.ts';
import { swagIncludes } from '../../../templates/test/helpers/nginx.ts';
import { parseDockerfile } from '../../../testing/dockerfile.ts';
import { docker, imageId, imageLabel, must, run } from './docker.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const STAND_INS = join(HERE, 'stand-ins');
const INPUTS_LABEL = 'io.refresher.standin.inputs';

/** The Debian base of every stand-in (mmdebstrap, minbase, this machine's CA bundle). */
export const BASE_IMAGE = 'refresher-standin/debian:bookworm';
/** The test's ACME server (not a stand-in for a pinned image). */
export const PEBBLE_IMAGE = 'refresher-standin/pebble:2.4';
/** The test's DNS server for the public names (Debian's dnsmasq; not a stand-in either). */
export const DNSMASQ_IMAGE = 'refresher-standin/dnsmasq:2.89';
const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
/** apt settings of Debian's official images (no package caches kept in layers). */
const APT_SLIM = join(STAND_INS, 'base/apt-slim.conf');

/** The node base app/Dockerfile names in its NODE_IMAGE argument. */
export function nodeBaseImage(): string {
  const dockerfile = parseDockerfile(readFileSync(join(REPO_ROOT, 'app/Dockerfile'), 'utf8'));
  const pinned = dockerfile.globalArgs.get('NODE_IMAGE');
  if (!pinned) throw new Error('app/Dockerfile has no NODE_IMAGE default');
  return pinned;
}

interface StandIn {
  /** The folder under stand-ins/. */
  folder: string;
  /** The tag it is built as. */
  image: string;
  /** Build arguments naming images it is built FROM (they are built first). */
  from: Record<string, string>;
  /** Files the forge adds to the context, by path in the context. */
  extra?: () => Promise<Record<string, string | Buffer>> | Record<string, string | Buffer>;
  /** Folders (absolute) copied into the context, by path in the context. */
  folders?: () => Record<string, string>;
}

async function bundleChecker(): Promise<string> {
  const result = await build({
    entryPoints: [join(STAND_INS, 'grafana/checker.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    write: false,
    logLevel: 'silent',
    // pg's optional native binding is never used.
    external: ['pg-native'],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  return result.outputFiles[0]!.text;
}

const npmDir = () => join(dirname(process.execPath), '../lib/node_modules/npm');

/** Every stand-in, in build order (an image comes after the images it is built FROM). */
export function standIns(): StandIn[] {
  const base = { BASE: BASE_IMAGE };
  const simple = (folder: string, image: string): StandIn => ({ folder, image, from: base });
  return [
    {
      folder: 'node',
      image: nodeBaseImage(),
      from: base,
      extra: () => ({ node: readFileSync(process.execPath) }),
      folders: () => ({ npm: npmDir() }),
    },
    simple('postgres', DEFAULT_IMAGES.postgres),
    simple('redis', DEFAULT_IMAGES.redis),
    simple('prometheus', DEFAULT_IMAGES.prometheus),
    simple('alertmanager', DEFAULT_IMAGES.alertmanager),
    simple('node-exporter', DEFAULT_IMAGES.nodeExporter),
    simple('postgres-exporter', DEFAULT_IMAGES.postgresExporter),
    simple('redis-exporter', DEFAULT_IMAGES.redisExporter),
    simple('cadvisor', DEFAULT_IMAGES.cadvisor),
    simple('pebble', PEBBLE_IMAGE),
    simple('dnsmasq', DNSMASQ_IMAGE),
    {
      folder: 'swag',
      image: DEFAULT_IMAGES.swag,
      from: { ...base, PEBBLE_IMAGE },
      extra: () => {
        const files = swagIncludes('/config', { user: 'abc', resolver: '127.0.0.11' });
        return Object.fromEntries(
          ['nginx.conf', 'ssl.conf', 'proxy.conf'].map((name) => [
            `defaults/${name}`,
            files[`nginx/${name}`]!,
          ]),
        );
      },
    },
    {
      folder: 'grafana',
      image: DEFAULT_IMAGES.grafana,
      from: { NODE_IMAGE: nodeBaseImage() },
      extra: async () => ({ 'checker.mjs': await bundleChecker() }),
    },
  ];
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((path) => statSync(join(dir, path)).isFile())
    .sort();
}

export interface ForgeReport {
  image: string;
  built: boolean;
  seconds: number;
}

/** The Debian base, made by mmdebstrap; remade only when its apt settings or the CA bundle change. */
async function forgeBase(log: (line: string) => void): Promise<ForgeReport> {
  const started = Date.now();
  const inputs = createHash('sha256')
    .update('bookworm minbase ca-certificates\n')
    .update(readFileSync(HOST_CA_BUNDLE))
    .update(readFileSync(APT_SLIM))
    .digest('hex');
  if ((await imageLabel(BASE_IMAGE, INPUTS_LABEL)) === inputs)
    return { image: BASE_IMAGE, built: false, seconds: 0 };
  if ((await run('sh', ['-c', 'command -v mmdebstrap'])).code !== 0)
    throw new Error('mmdebstrap is not installed: apt-get install mmdebstrap (bash .ci/run does)');
  log(`forging ${BASE_IMAGE} with mmdebstrap`);
  await must('sh', [
    '-c',
    `mmdebstrap --quiet --variant=minbase --include=ca-certificates \
      --customize-hook='upload ${HOST_CA_BUNDLE} ${HOST_CA_BUNDLE}' \
      --customize-hook='upload ${APT_SLIM} /etc/apt/apt.conf.d/docker-clean' bookworm - \
      | docker import --change 'LABEL ${INPUTS_LABEL}=${inputs}' --change 'CMD ["bash"]' - ${BASE_IMAGE}`,
  ]);
  return { image: BASE_IMAGE, built: true, seconds: (Date.now() - started) / 1000 };
}

async function forgeOne(standIn: StandIn, log: (line: string) => void): Promise<ForgeReport> {
  const started = Date.now();
  const folder = join(STAND_INS, standIn.folder);
  const hash = createHash('sha256');
  // TypeScript sources enter through their bundle (in `extra`), which also covers what they import.
  for (const path of filesUnder(folder).filter((path) => !path.endsWith('.ts')))
    hash.update(`${path}\n`).update(readFileSync(join(folder, path)));
  const extra = (await standIn.extra?.()) ?? {};
  for (const [path, content] of Object.entries(extra).sort())
    hash.update(`${path}\n`).update(content);
  const folders = standIn.folders?.() ?? {};
  for (const [path, source] of Object.entries(folders).sort())
    for (const file of filesUnder(source))
      hash.update(`${path}/${file}\n`).update(readFileSync(join(source, file)));
  for (const [name, reference] of Object.entries(standIn.from).sort()) {
    const id = await imageId(reference);
    if (!id) throw new Error(`${standIn.image} needs ${reference}, which was not forged`);
    hash.update(`${name}=${id}\n`);
  }
  const inputs = hash.digest('hex');
  if ((await imageLabel(standIn.image, INPUTS_LABEL)) === inputs)
    return { image: standIn.image, built: false, seconds: 0 };

  log(`forging ${standIn.image} from stand-ins/${standIn.folder}`);
  const context = join(tmpdir(), `refresher-forge-${standIn.folder}-${process.pid}`);
  rmSync(context, { recursive: true, force: true });
  cpSync(folder, context, { recursive: true });
  for (const [path, content] of Object.entries(extra)) {
    mkdirSync(dirname(join(context, path)), { recursive: true });
    // `node` is the node stand-in's binary; everything else the forge adds is data.
    writeFileSync(join(context, path), content, { mode: path === 'node' ? 0o755 : 0o644 });
  }
  for (const [path, source] of Object.entries(folders))
    cpSync(source, join(context, path), { recursive: true, dereference: true });
  try {
    const args = Object.entries(standIn.from).flatMap(([name, ref]) => [
      '--build-arg',
      `${name}=${ref}`,
    ]);
    await docker(
      'build', '--quiet', '--label', `${INPUTS_LABEL}=${inputs}`, ...args, '-t', standIn.image, context,
    ); // prettier-ignore
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  return { image: standIn.image, built: true, seconds: (Date.now() - started) / 1000 };
}

/**
 * Builds every stand-in that is missing or whose inputs changed, a few at a time (the builds wait
 * on the package mirror more than on the CPU), each after the images it is built FROM.
 */
export async function forge(
  log: (line: string) => void = (line) => console.error(`[forge] ${line}`),
  parallel = 3,
): Promise<ForgeReport[]> {
  const reports = [await forgeBase(log)];
  const pending = standIns();
  const done = new Set([BASE_IMAGE]);
  const running = new Map<string, Promise<void>>();
  while (pending.length || running.size) {
    const ready = pending.filter((s) => Object.values(s.from).every((ref) => done.has(ref)));
    while (running.size < parallel && ready.length) {
      const next = ready.shift()!;
      pending.splice(pending.indexOf(next), 1);
      running.set(
        next.image,
        forgeOne(next, log).then((report) => {
          reports.push(report);
          done.add(next.image);
          running.delete(next.image);
        }),
      );
    }
    if (!running.size) throw new Error(`cannot order ${pending.map((s) => s.image).join(', ')}`);
    await Promise.race(running.values());
  }
  // Stand-ins replaced by a rebuild lose their tag: remove them rather than let them pile up.
  if (reports.some((report) => report.built))
    await run('docker', ['image', 'prune', '--force', '--filter', `label=${INPUTS_LABEL}`]);
  return reports;
}

if (process.argv[1] && relative(process.argv[1], fileURLToPath(import.meta.url)) === '') {
  const started = Date.now();
  const reports = await forge();
  for (const report of reports)
    console.log(
      `${report.built ? 'built ' : 'cached'} ${report.image}${report.built ? ` (${report.seconds.toFixed(0)} s)` : ''}`,
    );
  console.log(`forge: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
