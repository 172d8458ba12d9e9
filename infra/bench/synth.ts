// bench:synth — a full synth of both stacks, as `npm run synth` runs it after the bundle: a fresh
// node process (tsx, cdktf, the provider classes it imports, the renderers, the policies) with the
// committed example configuration, writing into a temporary folder.
//   npm run bench:synth
// Prints on its last line: {"bench":"synth","seconds":…,"rss_mb":…,"resources":…}
//   seconds    wall time of the synth process, from spawn to exit
//   rss_mb     its peak resident memory
//   resources  Terraform resources in both stacks
// The bundle is built first into the same temporary folder and is not part of the figures.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleApp } from '../../scripts/lib/bundle.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { runTs } from '../../testing/child.ts';

const dir = mkdtempSync(join(tmpdir(), 'refresher-bench-synth-'));
try {
  const bundled = performance.now();
  await bundleApp({ outDir: join(dir, 'dist') });
  console.error(
    `bench:synth: bundle built in ${((performance.now() - bundled) / 1000).toFixed(2)} s (not counted)`,
  );

  const report = join(dir, 'report.json');
  const started = performance.now();
  const result = runTs('infra/main.ts', [], {
    CDKTF_OUTDIR: join(dir, 'cdktf.out'),
    REFRESHER_DEPLOY_CONFIG: join(REPO_ROOT, 'infra/deploy.config.example.ts'),
    REFRESHER_SECRETS_FILE: join(dir, 'secrets.json'),
    REFRESHER_DIST: join(dir, 'dist'),
    REFRESHER_STATE_DIR: join(dir, 'state'),
    REFRESHER_SYNTH_REPORT: report,
  });
  const seconds = (performance.now() - started) / 1000;
  if (result.status !== 0) {
    console.error(`bench:synth: synth failed (${result.status}):\n${result.stderr}`);
    process.exitCode = 1;
  } else {
    const figures = JSON.parse(readFileSync(report, 'utf8')) as {
      seconds: number;
      maxRssKb: number;
      resources: number;
      stacks: { name: string; resources: number }[];
    };
    for (const stack of figures.stacks)
      console.error(`bench:synth: stack ${stack.name}: ${stack.resources} resources`);
    console.error(
      `bench:synth: in-process time ${figures.seconds.toFixed(2)} s (from node's start)`,
    );
    console.log(
      JSON.stringify({
        bench: 'synth',
        seconds: Number(seconds.toFixed(2)),
        rss_mb: Number((figures.maxRssKb / 1024).toFixed(1)),
        resources: figures.resources,
      }),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
