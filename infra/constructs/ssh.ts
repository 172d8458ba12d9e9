// The deploy's ssh options as the stacks write them into the synthesized configuration: the
// options of templates/ssh.ts, with the private key's path written so that the files name no
// folder of this machine when they need not (Terraform runs in <outDir>/stacks/<stack>).
import { homedir } from 'node:os';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import type { DeploymentConfig } from '../../templates/config.ts';
import { sshClientOptions } from '../../templates/ssh.ts';

function inside(folder: string, path: string): string | undefined {
  const rel = relative(folder, path);
  return rel && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel) ? rel : undefined;
}

/**
 * The key's path as Terraform's ssh should open it: relative to the stack's folder when the key
 * is in the checkout (as the example's is), `~/…` when it is in the home folder (ssh expands it),
 * else as it is.
 */
export function stackKeyPath(
  keyPath: string,
  outDir: string,
  stackName: string,
  home = homedir(),
): string {
  const stackDir = `${outDir}/stacks/${stackName}`;
  if (inside(dirname(outDir), keyPath)) return relative(stackDir, keyPath);
  const inHome = inside(home, keyPath);
  return inHome ? `~/${inHome.split(sep).join('/')}` : keyPath;
}

/** The ssh options of a stack (the vm-ready check, the docker provider). */
export function stackSshOptions(
  config: DeploymentConfig,
  outDir: string,
  stackName: string,
): string[] {
  return sshClientOptions({
    privateKeyPath: stackKeyPath(config.vm.sshPrivateKeyPath, outDir, stackName),
  });
}
