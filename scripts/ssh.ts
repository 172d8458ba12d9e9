// npm run ssh: a shell on the deployment's host as the deploy user (Docker, nothing else), with
// the deployment's key and the same ssh options as npm run deploy; a command after -- runs
// instead of a shell.
//
//   npm run ssh [-- --host [USER@]HOST[:PORT]] [--config FILE] [-- COMMAND...]
import { parseCommandLine, runCommand, UsageError } from '../contract/cli.ts';
import { shellWords } from '../templates/ssh.ts';
import {
  EXIT,
  openTarget,
  OPS_ERRORS,
  OpsError,
  spawnFailure,
  spawnOnHost,
  TARGET_FLAGS,
  TARGET_USAGE,
} from './lib/ops.ts';

const USAGE = `usage: npm run ssh [-- --host [USER@]HOST[:PORT]] [--config FILE] [-- COMMAND...]
${TARGET_USAGE.split('\n')
  .filter((line) => !line.includes('--local') && !line.includes('no ssh'))
  .join('\n')}
  COMMAND         run it on the host instead of a shell (e.g. npm run ssh -- -- docker ps)`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(
    argv,
    { config: TARGET_FLAGS.config, host: TARGET_FLAGS.host },
    true,
  );
  if (values.help) {
    console.log(USAGE);
    return EXIT.ok;
  }
  const target = await openTarget(values);
  if (!target.ssh) throw new UsageError('npm run ssh needs a host');
  const interactive = positionals.length === 0;
  if (interactive && !process.stdin.isTTY)
    throw new UsageError('no terminal for a shell: give a command after --');
  let stderr = '';
  const child = spawnOnHost(
    target,
    interactive ? '' : shellWords(positionals),
    interactive ? 'inherit' : ['inherit', 'inherit', 'pipe'],
    interactive,
  );
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    process.stderr.write(chunk);
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const failure = spawnFailure(target, code, stderr);
  if (failure && !interactive) throw failure;
  if (failure)
    throw new OpsError(`the ssh session ended with ssh's own error (exit 255)`, EXIT.unreachable);
  return code ?? EXIT.problem;
}

await runCommand('ssh', USAGE, () => main(process.argv.slice(2)), { expected: OPS_ERRORS });
