// The docs check (issue 20): what README.md, SECURITY.md, the root's other Markdown files (a
// changelog) and every docs/**/*.md tell a reader must be true of this repository, so that the
// refresher guide cannot quietly drift from the code. `npm run test:docs` runs this file alone;
// `npm test` runs it with the rest of scripts/test/. Each finding is printed as file:line.
//
// 1. Paths. A word of a code span or of a fenced block is a repository path when it has a slash
//    and starts with a name in the root folder (`infra/stacks/azure.ts`, `.ci/run`, `docs/x.md`),
//    or is a root document's name (`SECURITY.md`; in prose too). It must exist, or be covered by
//    .gitignore (what a reader makes or a command generates: infra/deploy.config.ts, cdktf.out/…,
//    dist/, .secrets/, .state/). An example says so with a placeholder,
//    `app/src/db/migrations/<NNNN>-<what>.ts` (also `*`, `{…}`, `…`): then only the folder before
//    it must exist. URLs, absolute paths, `image:tag` and words relative to some other folder
//    (`src/main.ts`) are not paths, and neither are the words of a fenced block marked `text`
//    (output, such as a listing of the render folder). A `#anchor` after a Markdown path must be
//    a heading there.
// 2. Every `npm run X` (also `npm run -s X`, `npm start`, `npm test`) is a script of package.json.
// 3. Every `npx refresher ROLE` (or `node app/bin/refresher.js ROLE`) is a role the CLI lists in
//    its `--help`.
// 4. Every variable named in code (`DATABASE_URL`, `$PORT`, `LOG_LEVEL=debug npm start`) with
//    the app's shape (SNAKE_CASE capitals, or any name of contract/env.ts) is in contract/env.ts's
//    envSchema, or is a name the repository's code spells out (read from every file outside docs/
//    and .gitignore: process.env.X, env.X, the catalogue's container environments, shell scripts,
//    constants, comments), or overrides a generated secret (templates/secrets.ts computes
//    REFRESHER_<SECRET>), or is a shell variable the document's own blocks assign and expand
//    (`SA_ID=$(az …)`, then `"$SA_ID"`), or belongs to a family of names another program defines
//    (ENV_FAMILIES, a short list).
// 5. Every relative link and image resolves in the repository, and every #anchor is a heading of
//    its file as GitHub makes anchors (lower case, punctuation dropped, spaces to hyphens, a
//    repeated heading -1, -2, …) or an <a id>.
// 6. A claim that something is still to come ("to come", "coming soon", "not (yet)
//    implemented", "not yet built/written/available/…", "(planned)", "will be added", and TODO or
//    TBD in capitals) must carry an issue reference in the same sentence (`issue 20`, `#20`, a
//    link to …/issues/20), and is stale when that sentence also names something that exists: a
//    path of rule 1 that exists (and is not .gitignore's), an npm script, a CLI role, a variable
//    of the app or a relative link that resolves. A sentence ends at `.`, `!`, `?` or `;`; a
//    table cell and a line of a fenced block are sentences of their own. So a script promised
//    "(to come, issue 20)" passes until the script exists, then fails until the sentence goes.
//    A wording in quotes or in code is a mention, not a claim.
// 7. Every alert's runbook annotation (prometheus/rules.ts builds docs/runbooks.md#<alert in
//    lower case>) names a heading of docs/runbooks.md, for a configuration that enables every
//    optional alert; so does every `runbook: '…'` written out in code (the portal's test
//    notification, the promtool tests' expected annotations).
//
// Each rule first meets a bad example it must report, so that a rule that stopped finding
// anything fails here rather than passing over the real docs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { envSchema } from '../../contract/env.ts';
import { REPO_ROOT } from '../../contract/paths.ts';
import { alertRules } from '../../templates/prometheus.ts';
import { SECRET_NAMES, secretEnvName } from '../../templates/secrets.ts';
import { configFixture } from '../../templates/test/helpers/deployment.ts';
import {
  anchors,
  checkClaims,
  checkLinks,
  checkPaths,
  checkRoles,
  checkRunbooks,
  checkScripts,
  checkVariables,
  codeNames,
  formatFinding,
  isCode,
  literalRunbooks,
  ruleRunbooks,
  gitignoreMatcher,
  parseMarkdown,
  slug,
  walk,
  type Finding,
  type ParsedDoc,
  type RepoFacts,
} from './helpers/docs.ts';

/**
 * Families of capitalised names other programs define, which no code here needs to spell out one
 * by one: Terraform's azurerm provider and the az CLI read ARM_* (ARM_CLIENT_ID, ARM_USE_OIDC),
 * Terraform TF_* (TF_LOG), Grafana maps every setting to GF_<SECTION>_<KEY>, Node.js reads
 * NODE_* (NODE_OPTIONS) and names its error codes ERR_* (ERR_HTTP_HEADERS_SENT, no variable at
 * all), and glibc's allocator reads MALLOC_* (MALLOC_ARENA_MAX).
 */
const ENV_FAMILIES = ['ARM_', 'TF_', 'GF_', 'NODE_', 'ERR_', 'MALLOC_'];

/** This check and its helpers hold bad examples on purpose: they are no source of names. */
const SELF = new Set(['scripts/test/docs.test.ts', 'scripts/test/helpers/docs.ts']);

const ignored = gitignoreMatcher(readFileSync(join(REPO_ROOT, '.gitignore'), 'utf8'));
const isFolder = (path: string) => {
  try {
    return statSync(join(REPO_ROOT, path)).isDirectory();
  } catch {
    return false;
  }
};

const anchorCache = new Map<string, Set<string> | undefined>();
function anchorsOf(path: string): Set<string> | undefined {
  // A folder's page on GitHub is its README.md.
  const file = isFolder(path) ? join(path, 'README.md') : path;
  if (!anchorCache.has(file))
    anchorCache.set(
      file,
      file.endsWith('.md') && existsSync(join(REPO_ROOT, file))
        ? anchors(parseMarkdown(file, readFileSync(join(REPO_ROOT, file), 'utf8')))
        : undefined,
    );
  return anchorCache.get(file);
}

/** The roles `refresher --help` lists: the first word of each two-space-indented usage line. */
function cliRoles(): Set<string> {
  const help = spawnSync(process.execPath, [join(REPO_ROOT, 'app/bin/refresher.js'), '--help'], {
    encoding: 'utf8',
  });
  assert.equal(help.status, 0, help.stderr);
  return new Set([...help.stdout.matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map((match) => match[1]!));
}

const skipInWalk = (path: string) =>
  path === '.git/' ||
  path === 'node_modules/' ||
  path.startsWith('docs/') ||
  SELF.has(path) ||
  ignored(path);

/** The repository's files of code (and configuration), where names and runbook links come from. */
const codeFiles = walk(REPO_ROOT, skipInWalk).filter((file) => isCode(REPO_ROOT, file));

const facts: RepoFacts = {
  exists: (path) => existsSync(join(REPO_ROOT, path)),
  ignored: (path) => ignored(isFolder(path) && !path.endsWith('/') ? `${path}/` : path),
  topLevel: new Set(
    readdirSync(REPO_ROOT).filter((name) => !['.git', 'node_modules'].includes(name)),
  ),
  scripts: new Set(
    Object.keys(
      (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: object })
        .scripts,
    ),
  ),
  roles: cliRoles(),
  appEnv: new Set(Object.keys(envSchema.shape)),
  knownNames: new Set([...codeNames(REPO_ROOT, codeFiles), ...SECRET_NAMES.map(secretEnvName)]),
  envPrefixes: ENV_FAMILIES,
  anchorsOf,
};

/** The documents the check reads: the root's Markdown files and every one under docs/. */
function documents(): string[] {
  const root = readdirSync(REPO_ROOT).filter((name) => name.endsWith('.md'));
  const docs = walk(REPO_ROOT, () => false, 'docs').filter((path) => path.endsWith('.md'));
  return [...root.sort(), ...docs.sort()];
}

const doc = (text: string, file = 'docs/example.md'): ParsedDoc => parseMarkdown(file, text);
const messages = (findings: Finding[]) => findings.map(formatFinding);

const fixture = configFixture();
after(() => fixture.remove());

/** Every alert rule, with every optional alert on and N-in-a-row below the floor. */
const everyAlert = () => {
  const alerts = {
    downloadFloorMbps: 50,
    uploadFloorMbps: 10,
    pingCeilingMs: 60,
    jitterCeilingMs: 20,
    packetLossCeilingPercent: 1,
    bufferbloatCeilingMs: 100,
  };
  return [
    ...alertRules(fixture.config({ alerts })),
    ...alertRules(fixture.config({ alerts: { ...alerts, consecutiveBelowFloor: 3 } })),
  ];
};

describe('the docs check finds each kind of mistake', () => {
  test('rule 1: a path that does not exist, unless .gitignore covers it or it is an example', () => {
    const text = [
      'See `infra/stacks/azure.ts` and `infra/stacks/nosuch.ts`.', // 1: one missing
      'Copy it to `infra/deploy.config.ts`, output in `cdktf.out/stacks/azure`.', // 2: ignored
      'A migration `app/src/db/migrations/<NNNN>-what.ts`, `nosuchfolder/x.ts`, `src/x.ts`.', // 3
      'Run `bash .ci/run`, read `CHANGELOG-NOSUCH.md` and `docs/runbooks.md#nosuch-heading`.', // 4
      '```sh',
      'node --import tsx scripts/nosuch.ts   # a fenced command names paths too',
      'docker pull grafana/grafana:12.1.1',
      '```',
      'As DESIGN-NOSUCH.md says, unquoted; [SECURITY.md](SECURITY.md) and README.md are there.', // 9
      '```text',
      'render/',
      '  prometheus/rules/refresher.rules.yml    output, relative to the render folder',
      '```',
    ].join('\n');
    assert.deepEqual(messages(checkPaths(doc(text), facts)), [
      'docs/example.md:1: names infra/stacks/nosuch.ts, which is not in the repository',
      'docs/example.md:4: names CHANGELOG-NOSUCH.md, which is not in the repository',
      'docs/example.md:4: names docs/runbooks.md#nosuch-heading: no such heading',
      'docs/example.md:6: names scripts/nosuch.ts, which is not in the repository',
      'docs/example.md:9: names DESIGN-NOSUCH.md, which is not in the repository',
    ]);
    const examples = '`app/src/…`, `docs/runbooks.md#targetdown`, `docs/runbooks.md#<alert>`';
    assert.deepEqual(checkPaths(doc(examples), facts), []);
  });

  test('rule 1: .gitignore is read as git reads it', () => {
    const matches = gitignoreMatcher(
      'dist/\n/infra/deploy.config.ts\n*.log\n.env.*\n!.env.example\n',
    );
    assert.ok(matches('dist/bundle.mjs') && matches('app/dist/') && matches('a/b/x.log'));
    assert.ok(matches('infra/deploy.config.ts') && !matches('app/infra/deploy.config.ts'));
    assert.ok(matches('.env.local') && !matches('.env.example'));
    assert.ok(!matches('dist') && !matches('distant/x'), 'dist/ matches folders only');
  });

  test('rule 2: an npm script package.json does not have', () => {
    const text = 'first `npm run status`\nthen npm run -s logs -- web, and `npm run nosuch-script`';
    assert.deepEqual(messages(checkScripts(doc(text), facts)), [
      'docs/example.md:2: npm run nosuch-script: no such script in package.json',
    ]);
  });

  test('rule 3: a role the CLI does not have', () => {
    assert.ok(facts.roles.has('web') && facts.roles.has('create-admin'), [...facts.roles].join());
    const text = '`npx refresher web`, `npx refresher --help`\n```sh\nnpx refresher webb\n```';
    assert.deepEqual(messages(checkRoles(doc(text), facts)), [
      'docs/example.md:3: npx refresher webb: the CLI has no such role (refresher --help)',
    ]);
  });

  test('rule 4: a variable neither the app nor the repository has', () => {
    const text = [
      '`DATABASE_URL`, `PORT`, `REFRESHER_HOST`, `ARM_TENANT_ID`, `SHUTDOWN_GRACE_MS`', // known
      '`DATABASE_URI` and `LOG_LEVEL=debug NOSUCH_LEVEL=1 npm start`, `GET` and `$OWN_ID`?',
      '```sh',
      'export REFRESHER_NOSUCH=1; echo ${REDIS_URL}',
      'OWN_ID=$(az identity show --query id -o tsv)   # a variable of the document itself',
      'az role assignment create --assignee "$OWN_ID"',
      '```',
    ].join('\n');
    const problem = "not a variable of contract/env.ts, nor a name the repository's code uses";
    assert.deepEqual(messages(checkVariables(doc(text), facts)), [
      `docs/example.md:2: DATABASE_URI: ${problem}`,
      `docs/example.md:2: NOSUCH_LEVEL: ${problem}`,
      `docs/example.md:4: REFRESHER_NOSUCH: ${problem}`,
    ]);
  });

  test('rule 5: a relative link or an anchor that does not resolve', () => {
    const text = [
      '# Setting up: the `.env` file',
      '## Pitfalls',
      '## Pitfalls',
      '[ok](#setting-up-the-env-file), [repeat](#pitfalls-1), [bad](#pitfalls-2)',
      '[up](../README.md#run-it-on-your-machine), [gone](nosuch.md), [far](../../outside.md)',
      '[other](runbooks.md#nosuch), [src](../app/src/main.ts#L3), ![img](images/nosuch.png)',
      '[web](https://example.com/x#y) and `[not a link](nosuch.md)`',
      '[ref]: ./runbooks.md#targetdown',
    ].join('\n');
    assert.deepEqual(messages(checkLinks(doc(text), facts)), [
      'docs/example.md:4: link to #pitfalls-2: no heading #pitfalls-2 in docs/example.md',
      'docs/example.md:5: link to nosuch.md: docs/nosuch.md does not exist',
      'docs/example.md:5: link to ../../outside.md: ../outside.md does not exist',
      'docs/example.md:6: link to runbooks.md#nosuch: no heading #nosuch in docs/runbooks.md',
      'docs/example.md:6: link to images/nosuch.png: docs/images/nosuch.png does not exist',
    ]);
  });

  test("rule 5: anchors are GitHub's", () => {
    assert.equal(slug('Day-2 operations: `npm run status`'), 'day-2-operations-npm-run-status');
    assert.equal(
      slug('CDKTF’s future: 0.21 is the last release'),
      'cdktfs-future-021-is-the-last-release',
    );
    assert.equal(slug('_Why_ `WORKER_LOCK_MS` & [links](x.md)'), 'why-worker_lock_ms--links');
    const parsed = doc('# A\n## A\n## A-1\n## A\n<a id="custom"></a>');
    assert.deepEqual([...anchors(parsed)].sort(), ['a', 'a-1', 'a-1-1', 'a-2', 'custom']);
  });

  test('rule 6: a claim without an issue, and a claim about something that exists', () => {
    const text = [
      'Coverage is to come.', // 1: no issue
      'A coverage floor is to come (issue 20); `npm run status` works today.', // 2: fine
      '`npm run status` (to come, issue 20) and `app/src/nosuch.ts` (planned, #20).', // 3: stale
      '| a cell | engines (to come) |', // 4: no issue
      'A sentence that goes on',
      'to a second line: [the runbooks](runbooks.md) are coming soon, see issue 20.', // 6: stale
      '```',
      'grafana/         dashboards as code (to come)', // 8: no issue, stale
      '```',
      'The check knows "to come" and `coming soon`: a mention, not a claim.', // 10: fine
      'Keep a todo list; TBD: the name of the page.', // 11: TBD in capitals is a claim
    ].join('\n');
    assert.deepEqual(messages(checkClaims(doc(text), facts)), [
      'docs/example.md:1: "to come" without an issue reference (say which issue tracks it)',
      'docs/example.md:3: "to come" beside npm run status, which exists: stale?',
      'docs/example.md:4: "to come" without an issue reference (say which issue tracks it)',
      'docs/example.md:6: "coming soon" beside runbooks.md, which exists: stale?',
      'docs/example.md:8: "to come" without an issue reference (say which issue tracks it)',
      'docs/example.md:8: "to come" beside grafana/, which exists: stale?',
      'docs/example.md:11: "TBD" without an issue reference (say which issue tracks it)',
    ]);
  });

  test('rule 7: a runbook annotation without its heading', () => {
    const rules = [
      { alert: 'TargetDown', annotations: { runbook: 'docs/runbooks.md#targetdown' } },
      { alert: 'NoSuchAlert', annotations: { runbook: 'docs/runbooks.md#nosuchalert' } },
      { alert: 'NoSuchAlert', annotations: { runbook: 'docs/runbooks.md#nosuchalert' } },
      { alert: 'Elsewhere', annotations: { runbook: 'docs/nosuch.md#elsewhere' } },
    ];
    const source = { file: 'prometheus/rules.ts', text: "x\nalert: 'NoSuchAlert'\n" };
    const literal = "  annotations: { summary: 'x', runbook: 'docs/runbooks.md#refreshernosuch' },";
    assert.deepEqual(
      messages(
        checkRunbooks(
          [...ruleRunbooks(rules, source), ...literalRunbooks('app/src/x.ts', `\n${literal}`)],
          facts,
        ),
      ),
      [
        'prometheus/rules.ts:2: NoSuchAlert: runbook docs/runbooks.md#nosuchalert: no such heading in docs/runbooks.md',
        'prometheus/rules.ts:1: Elsewhere: runbook docs/nosuch.md#elsewhere: no such Markdown file',
        'app/src/x.ts:2: refreshernosuch: runbook docs/runbooks.md#refreshernosuch: no such heading in docs/runbooks.md',
      ],
    );
    const names = new Set(everyAlert().map((rule) => rule.alert));
    for (const optional of ['SpeedtestPingHigh', 'SpeedtestBufferbloatHigh', 'ProbeOutage'])
      assert.ok(names.has(optional), `${optional} is among the rules checked`);
  });
});

describe('the docs are true of this repository', () => {
  const files = documents();
  const parsed = files.map((file) =>
    parseMarkdown(file, readFileSync(join(REPO_ROOT, file), 'utf8')),
  );
  const report = (findings: Finding[]) =>
    assert.deepEqual(messages(findings), [], `\n${messages(findings).join('\n')}\n`);

  test('it reads README.md, SECURITY.md and docs/', () => {
    for (const file of ['README.md', 'SECURITY.md', 'docs/README.md', 'docs/runbooks.md'])
      assert.ok(files.includes(file), file);
  });

  test('1. every repository path named exists', () =>
    report(parsed.flatMap((d) => checkPaths(d, facts))));
  test('2. every npm run X is a script', () =>
    report(parsed.flatMap((d) => checkScripts(d, facts))));
  test('3. every npx refresher ROLE is a role', () =>
    report(parsed.flatMap((d) => checkRoles(d, facts))));
  test('4. every variable named is one the repository knows', () =>
    report(parsed.flatMap((d) => checkVariables(d, facts))));
  test('5. every relative link and anchor resolves', () =>
    report(parsed.flatMap((d) => checkLinks(d, facts))));
  test('6. no claim that something is to come without an issue, or for something that exists', () =>
    report(parsed.flatMap((d) => checkClaims(d, facts))));
  test("7. every alert's runbook, and every one written out in code, is a heading", () => {
    const source = 'prometheus/rules.ts';
    const text = readFileSync(join(REPO_ROOT, source), 'utf8');
    const literals = codeFiles.flatMap((file) =>
      literalRunbooks(file, readFileSync(join(REPO_ROOT, file), 'utf8')),
    );
    assert.ok(literals.length, 'the portal and the promtool tests write runbook links out');
    report(
      checkRunbooks([...ruleRunbooks(everyAlert(), { file: source, text }), ...literals], facts),
    );
  });
});
