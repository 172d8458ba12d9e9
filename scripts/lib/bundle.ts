// The app as the image runs it: one ESM file built by esbuild from app/src/main.ts, plus what a
// bundle cannot hold, laid out as the Docker build context of app/Dockerfile:
//
//   dist/
//     Dockerfile          a copy of app/Dockerfile (the context is this folder)
//     refresher.mjs       the bundle (every dependency that can be bundled is inside)
//     assets/             app/src/web/admin/assets: the portal finds them next to its module
//     package.json        only the packages the bundle leaves external, at the versions locked
//     package-lock.json   the root lockfile pruned to those packages and their dependencies
//     bundle.json         manifest: versions, externals, a digest of every file above
//
// The folder is written whole or not at all (a temporary sibling, then renames), so a failed
// build never leaves a half-new context behind. The digest in bundle.json changes exactly when a
// file of the context changes; the services stack rebuilds the image on the VM when it does.
import { BUNDLE_FILE, REPO_ROOT } from '../../contract/paths.ts';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export const DEFAULT_DIST = join(REPO_ROOT, 'dist');
export const MANIFEST_FILE = 'bundle.json';

/**
 * Packages the bundle leaves out; the image installs them (with their dependencies) from the
 * pruned lockfile. Everything else the app imports is compiled into the bundle.
 */
export const EXTERNAL_PACKAGES: Readonly<Record<string, string>> = {
  // Loads a native binary: lzma-native (through decompress-tarxz), prebuilt for each platform.
  'speedtest-net': 'its lzma-native dependency loads a native addon',
  '@node-rs/argon2': 'a native addon (prebuilt per platform in optional packages)',
  // bull-board serves its single-page app from files in its package (@bull-board/ui/dist) and
  // renders an ejs template from its own folder: it must exist as a package on disk.
  '@bull-board/api': 'reads its UI files from its package folder',
  '@bull-board/express': 'renders an ejs template from its package folder',
  // bull-board requires bullmq itself (instanceof Queue, FlowProducer): one shared copy, not a
  // bundled one and an installed one. ioredis goes with it: the app hands its own connections to
  // BullMQ.
  bullmq: 'bull-board requires it from its own package (one shared copy)',
  ioredis: 'BullMQ and the app share the connection class',
  // The portal serves uPlot's dist/ directory, found with require.resolve at run time.
  uplot: "the portal serves files from uPlot's dist folder",
};

/**
 * Requires inside bundled packages that only run for features the app does not use, so the
 * packages are neither bundled nor installed: pg's native binding, Sequelize's HSTORE type.
 */
const NEVER_INSTALLED = ['pg-native', 'pg-hstore'];

export interface BundleFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface BundleManifest {
  /** The app's version (package.json), also the image tag. */
  version: string;
  /** sha256 over every file of the context (paths and contents), for rebuild triggers. */
  sha256: string;
  /** The bundle file, relative to the folder. */
  bundle: string;
  externals: Record<string, string>;
  files: BundleFile[];
}

export interface BundleResult {
  dir: string;
  manifest: BundleManifest;
  /** Size of the bundle file alone, and of the whole context. */
  bundleBytes: number;
  contextBytes: number;
  /** Installed size of the external packages in this checkout's node_modules (an estimate). */
  externalPackages: number;
  warnings: string[];
}

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  [key: string]: unknown;
}

interface Lockfile {
  name?: string;
  version?: string;
  lockfileVersion: number;
  requires?: boolean;
  packages: Record<string, LockEntry>;
}

interface RootPackage {
  name: string;
  version: string;
  license?: string;
  dependencies: Record<string, string>;
  overrides?: Record<string, string>;
}

/** Where `name` resolves from the package at `location` ("" is the root), as Node would find it. */
function resolveLocation(
  packages: Record<string, LockEntry>,
  location: string,
  name: string,
): string | undefined {
  let base = location;
  for (;;) {
    const candidate = base ? `${base}/node_modules/${name}` : `node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!base) return undefined;
    const index = base.lastIndexOf('/node_modules/');
    base = index === -1 ? '' : base.slice(0, index);
  }
}

/**
 * The root lockfile pruned to `roots` and everything they need: what `npm ci --omit=dev` in the
 * image installs. Dependency flags are recomputed for the new root (nothing is dev; a package is
 * optional only when every path to it goes through an optional dependency).
 */
export function pruneLockfile(lock: Lockfile, root: RootPackage): Lockfile {
  const packages = lock.packages;
  const required = new Set<string>();
  const optional = new Set<string>();
  const visit = (location: string, viaOptional: boolean): void => {
    if (viaOptional ? required.has(location) || optional.has(location) : required.has(location))
      return;
    (viaOptional ? optional : required).add(location);
    if (!viaOptional) optional.delete(location);
    const entry = packages[location]!;
    const edges: [string, boolean][] = [
      ...Object.keys(entry.dependencies ?? {}).map((name): [string, boolean] => [name, false]),
      ...Object.keys(entry.optionalDependencies ?? {}).map((name): [string, boolean] => [
        name,
        true,
      ]),
      // npm installs a peer dependency unless it is marked optional; an optional peer (bullmq for
      // bull-board, typescript for valibot) is there only when something else needs it.
      ...Object.keys(entry.peerDependencies ?? {})
        .filter((name) => entry.peerDependenciesMeta?.[name]?.optional !== true)
        .map((name): [string, boolean] => [name, false]),
    ];
    for (const [name, edgeOptional] of edges) {
      const found = resolveLocation(packages, location, name);
      if (!found) {
        if (edgeOptional) continue; // an optional dependency for another platform, or unused
        throw new Error(`${location || 'the root'} needs ${name}, which the lockfile lacks`);
      }
      visit(found, viaOptional || edgeOptional);
    }
  };
  for (const name of Object.keys(root.dependencies)) {
    const found = resolveLocation(packages, '', name);
    if (!found) throw new Error(`${name} is not in package-lock.json: run npm install`);
    visit(found, false);
  }
  const pruned: Record<string, LockEntry> = {
    '': {
      name: root.name,
      version: root.version,
      ...(root.license ? { license: root.license } : {}),
      dependencies: root.dependencies,
    },
  };
  const locations = [...required, ...optional].sort();
  for (const location of locations) {
    const entry = { ...packages[location]! };
    delete entry.dev;
    delete entry.devOptional;
    delete entry.peer;
    delete entry.optional;
    if (optional.has(location)) entry.optional = true;
    pruned[location] = entry;
  }
  return {
    name: root.name,
    version: root.version,
    lockfileVersion: 3,
    requires: true,
    packages: pruned,
  };
}

function filesUnder(dir: string, sub = ''): string[] {
  return readdirSync(join(dir, sub), { withFileTypes: true })
    .flatMap((entry) => {
      const rel = sub ? `${sub}/${entry.name}` : entry.name;
      return entry.isDirectory() ? filesUnder(dir, rel) : [rel];
    })
    .sort();
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Size on disk of the external packages' folders in this checkout (what the image installs). */
function installedSize(lock: Lockfile): number {
  let bytes = 0;
  for (const location of Object.keys(lock.packages)) {
    if (!location) continue;
    const dir = join(REPO_ROOT, location);
    if (!existsSync(dir)) continue; // another platform's optional package
    for (const file of filesUnder(dir)) {
      if (file.includes('node_modules/')) continue; // nested packages count on their own
      bytes += statSync(join(dir, file)).size;
    }
  }
  return bytes;
}

/** The esbuild options of the bundle (also what a test may inspect). */
export function esbuildOptions(outfile: string) {
  const externals = Object.keys(EXTERNAL_PACKAGES);
  return {
    entryPoints: [join(REPO_ROOT, 'app/src/main.ts')],
    outfile,
    bundle: true,
    platform: 'node' as const,
    format: 'esm' as const,
    // Node 24 runs the image; Node 20 runs the tests and the development machines.
    target: 'node20',
    // Packages and their subpaths (@bull-board/api/bullMQAdapter).
    external: [...externals, ...externals.map((name) => `${name}/*`), ...NEVER_INSTALLED],
    // CommonJS packages inside an ESM bundle still call require() for Node's own modules.
    banner: {
      js: "import { createRequire as __refresherCreateRequire } from 'node:module'; const require = __refresherCreateRequire(import.meta.url);",
    },
    // Readable stack traces without a source map: whitespace only, names kept.
    minifyWhitespace: true,
    keepNames: true,
    legalComments: 'none' as const,
    logLevel: 'silent' as const,
    metafile: false,
  };
}

/** Builds the bundle and its Docker context into `outDir` (default dist/), replacing it whole. */
export async function bundleApp(options: { outDir?: string } = {}): Promise<BundleResult> {
  const { build } = await import('esbuild');
  const target = resolve(options.outDir ?? DEFAULT_DIST);
  const parent = dirname(target);
  mkdirSync(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(parent, `.${basename(target)}.building-${tag}`);
  const previous = join(parent, `.${basename(target)}.previous-${tag}`);

  const rootPackage = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    version: string;
    license?: string;
    dependencies: Record<string, string>;
    overrides?: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as Lockfile;
  const dependencies: Record<string, string> = {};
  for (const name of Object.keys(EXTERNAL_PACKAGES)) {
    const range = rootPackage.dependencies[name];
    if (!range)
      throw new Error(`${name} is external to the bundle but not a dependency in package.json`);
    dependencies[name] = range;
  }
  const imagePackage: RootPackage = {
    name: 'refresher-app',
    version: rootPackage.version,
    ...(rootPackage.license ? { license: rootPackage.license } : {}),
    dependencies,
  };
  const prunedLock = pruneLockfile(lock, imagePackage);

  let warnings: string[];
  try {
    mkdirSync(staging, { recursive: true });
    const result = await build(esbuildOptions(join(staging, BUNDLE_FILE)));
    warnings = result.warnings.map((warning) => warning.text);
    cpSync(join(REPO_ROOT, 'app/src/web/admin/assets'), join(staging, 'assets'), {
      recursive: true,
    });
    cpSync(join(REPO_ROOT, 'app/Dockerfile'), join(staging, 'Dockerfile'));
    writeFileSync(
      join(staging, 'package.json'),
      `${JSON.stringify(
        {
          ...imagePackage,
          private: true,
          type: 'module',
          description: 'The packages the refresher bundle leaves external (generated)',
          ...(rootPackage.overrides ? { overrides: rootPackage.overrides } : {}),
        },
        null,
        2,
      )}\n`,
    );
    writeFileSync(join(staging, 'package-lock.json'), `${JSON.stringify(prunedLock, null, 2)}\n`);

    const files = filesUnder(staging).map((path): BundleFile => {
      const data = readFileSync(join(staging, path));
      return { path, bytes: data.length, sha256: sha256(data) };
    });
    const manifest: BundleManifest = {
      version: rootPackage.version,
      sha256: sha256(files.map((file) => `${file.sha256}  ${file.path}\n`).join('')),
      bundle: BUNDLE_FILE,
      externals: Object.fromEntries(
        Object.keys(dependencies).map((name) => [
          name,
          prunedLock.packages[`node_modules/${name}`]!.version!,
        ]),
      ),
      files,
    };
    writeFileSync(join(staging, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);

    if (existsSync(target)) renameSync(target, previous);
    renameSync(staging, target);
    rmSync(previous, { recursive: true, force: true });
    return {
      dir: target,
      manifest,
      bundleBytes: files.find((file) => file.path === BUNDLE_FILE)!.bytes,
      contextBytes: files.reduce((sum, file) => sum + file.bytes, 0),
      externalPackages: installedSize(prunedLock),
      warnings,
    };
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (existsSync(previous) && !existsSync(target)) renameSync(previous, target);
    throw error;
  }
}

/** The manifest of a built context, or undefined when `dir` holds none. */
export function readBundleManifest(dir: string = DEFAULT_DIST): BundleManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as BundleManifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
