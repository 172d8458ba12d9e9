// npm run bundle [-- --out DIR]
// Builds the app bundle and the Docker build context of app/Dockerfile into dist/ (or DIR) and
// prints what it holds: the bundle's size, the context's, and the external packages the image
// installs. `npm run synth` runs it first, so a deployment always ships the current sources.
import { displayPath as shown, parseCommandLine, runCommand } from '../contract/cli.ts';
import { bundleApp, formatBytes } from './lib/bundle.ts';

const USAGE = `usage: npm run bundle [-- --out DIR] [--quiet]
  --out DIR   where the bundle and its Docker context go (default: dist/, replaced whole)
  --quiet     print one line`;

async function main(argv: string[]): Promise<number> {
  const { values } = parseCommandLine(argv, {
    out: { type: 'string' },
    quiet: { type: 'boolean' },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const started = performance.now();
  const result = await bundleApp({ outDir: values.out });
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  const { manifest } = result;
  if (values.quiet) {
    console.error(
      `bundle: ${shown(result.dir)}/${manifest.bundle} ${formatBytes(result.bundleBytes)} (${seconds} s)`,
    );
    return 0;
  }
  for (const warning of result.warnings) console.error(`bundle: warning: ${warning}`);
  console.log(`built ${shown(result.dir)}/ in ${seconds} s (version ${manifest.version})`);
  for (const file of manifest.files.filter((f) => !f.path.startsWith('assets/')))
    console.log(`  ${file.path.padEnd(20)} ${formatBytes(file.bytes).padStart(10)}`);
  const assets = manifest.files.filter((f) => f.path.startsWith('assets/'));
  console.log(
    `  ${'assets/'.padEnd(20)} ${formatBytes(assets.reduce((sum, f) => sum + f.bytes, 0)).padStart(10)}  (${assets.length} files)`,
  );
  console.log(`bundle ${manifest.bundle}: ${formatBytes(result.bundleBytes)}`);
  console.log(`context (sent to the Docker daemon): ${formatBytes(result.contextBytes)}`);
  console.log(
    `external packages installed in the image: ${Object.entries(manifest.externals)
      .map(([name, version]) => `${name}@${version}`)
      .join(', ')}`,
  );
  console.log(
    `  with their dependencies: ${formatBytes(result.externalPackages)} (as installed here)`,
  );
  console.log(`digest ${manifest.sha256}`);
  return 0;
}

await runCommand('bundle', USAGE, () => main(process.argv.slice(2)));
