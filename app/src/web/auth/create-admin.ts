// `refresher create-admin --username NAME`: the other way to the first admin. The password is read
// from standard input: typed twice at a terminal (not echoed), or one line from a pipe, so it
// never appears in the shell history or the process list.
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import type { Database } from '../../db/index.ts';
import { createUser } from './users.ts';

async function readPipedLine(): Promise<string> {
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  return input.split(/\r?\n/)[0] ?? '';
}

async function promptHidden(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk, _encoding, done) {
      if (!muted) process.stderr.write(chunk);
      done();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  try {
    return await new Promise((resolve) => {
      rl.question(question, resolve);
      muted = true;
    });
  } finally {
    rl.close();
    process.stderr.write('\n');
  }
}

export async function readNewPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readPipedLine();
  const first = await promptHidden('Password: ');
  const second = await promptHidden('Password (again): ');
  if (first !== second) throw new Error('the two passwords differ; nothing was created');
  return first;
}

export async function createAdmin(
  db: Database,
  username: string,
  password: string,
): Promise<string> {
  const user = await createUser(db, { username, password, isAdmin: true });
  return user.username;
}
