// The docs check's reading of Markdown and its rules, as functions of a text and of the facts of
// a repository (which paths exist, which scripts, roles and variables there are), so that each
// rule can be shown a bad example without a bad file in the tree. scripts/test/docs.test.ts says
// what each rule accepts and runs them over the root's Markdown files and docs/.
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, posix } from 'node:path';

/** A problem found, at a line of a file (both relative to the repository). */
export interface Finding {
  file: string;
  line: number;
  message: string;
}

export const formatFinding = ({ file, line, message }: Finding): string =>
  `${file}:${line}: ${message}`;

/** What the rules need to know about the repository. */
export interface RepoFacts {
  /** A repository-relative path (a trailing slash: a folder) is on disk. */
  exists(path: string): boolean;
  /** .gitignore covers the path: generated output or local state a reader makes. */
  ignored(path: string): boolean;
  /** The names in the repository's root folder: a path is one when it starts with one of them. */
  topLevel: ReadonlySet<string>;
  scripts: ReadonlySet<string>;
  roles: ReadonlySet<string>;
  /** The app's variables (contract/env.ts). */
  appEnv: ReadonlySet<string>;
  /** SNAKE_CASE names the repository's code spells out (variables it reads or sets, constants). */
  knownNames: ReadonlySet<string>;
  /** Prefixes of capitalised names other programs define (ARM_ for Terraform's azurerm). */
  envPrefixes: readonly string[];
  /** The anchors of a Markdown file, or undefined when it is not one. */
  anchorsOf(path: string): ReadonlySet<string> | undefined;
}

// ---------------------------------------------------------------------------------------------
// Reading Markdown

interface Located {
  line: number;
  text: string;
}

/** One Markdown file, split into the parts the rules read. */
export interface ParsedDoc {
  file: string;
  /** Every line, fences included (commands are commands wherever they are written). */
  lines: Located[];
  /** Inline code spans outside fenced blocks. */
  spans: Located[];
  /** Targets of inline links, images and link reference definitions. */
  links: Located[];
  headings: Located[];
  /** `<a id="…">` and `<a name="…">`: anchors that are not headings. */
  htmlAnchors: string[];
  /** Lines inside fenced code blocks, with the block's language. */
  fenced: (Located & { lang: string })[];
  /** Prose lines (outside fences), code spans blanked out, for the claims rule. */
  prose: Located[];
}

// A code span: a run of backticks, content, the same run (CommonMark's rule, on one line).
const CODE_SPAN = /(`+)(?!`)(.+?)(?<!`)\1(?!`)/g;
// [text](target "title"), ![alt](target); the target stops at whitespace or the closing paren.
const INLINE_LINK = /!?\[[^\]]*\]\(\s*<?([^()\s>]*)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)/g;
const REFERENCE_DEFINITION = /^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/;
const HEADING = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/;
const FENCE = /^\s*(`{3,}|~{3,})\s*([^\s`]*)/;

export function parseMarkdown(file: string, text: string): ParsedDoc {
  const doc: ParsedDoc = {
    file,
    lines: [],
    spans: [],
    links: [],
    headings: [],
    htmlAnchors: [],
    fenced: [],
    prose: [],
  };
  let fence: { marker: string; lang: string } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    doc.lines.push({ line, text: raw });
    const opener = FENCE.exec(raw);
    if (fence) {
      const closing = raw.trim();
      if (
        closing.length >= fence.marker.length &&
        [...closing].every((char) => char === fence!.marker[0])
      )
        fence = undefined;
      else doc.fenced.push({ line, text: raw, lang: fence.lang });
      return;
    }
    if (opener) {
      fence = { marker: opener[1]!, lang: opener[2]!.toLowerCase() };
      return;
    }
    for (const match of raw.matchAll(CODE_SPAN)) doc.spans.push({ line, text: match[2]!.trim() });
    const blanked = raw.replace(CODE_SPAN, (span) => ' '.repeat(span.length));
    doc.prose.push({ line, text: blanked });
    for (const match of blanked.matchAll(INLINE_LINK)) doc.links.push({ line, text: match[1]! });
    const definition = REFERENCE_DEFINITION.exec(blanked);
    if (definition) doc.links.push({ line, text: definition[1]! });
    const heading = HEADING.exec(raw);
    if (heading) doc.headings.push({ line, text: heading[1]! });
    for (const match of blanked.matchAll(/<a\s+(?:id|name)="([^"]+)"/g))
      doc.htmlAnchors.push(match[1]!);
  });
  return doc;
}

/** A heading's anchor as GitHub makes it from the rendered text (without the -N of a repeat). */
export function slug(heading: string): string {
  const rendered = heading
    .split(/(`+[^`]*`+)/)
    .map((part, index) =>
      index % 2
        ? part.replace(/`/g, '') // code: its text as it is
        : part
            .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link: its text
            .replace(/<[^>]+>/g, '') // inline HTML
            .replace(/\*+/g, '')
            // emphasis by underscores, at the edges of words (snake_case keeps its own)
            .replace(/(^|[^\p{L}\p{N}])_+|_+(?=[^\p{L}\p{N}]|$)/gu, '$1'),
    )
    .join('');
  // GitHub keeps letters, marks, numbers, connector punctuation (_), spaces and hyphens; every
  // space becomes a hyphen, without collapsing runs.
  return rendered
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of a document: headings in order (a repeat gets -1, -2, …) and HTML ids. */
export function anchors(doc: ParsedDoc): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>(doc.htmlAnchors);
  for (const { text } of doc.headings) {
    const base = slug(text);
    let anchor = base;
    // As github-slugger: count repeats of the base, and skip a suffixed name already taken.
    while (seen.has(anchor)) {
      const count = seen.get(base)! + 1;
      seen.set(base, count);
      anchor = `${base}-${count}`;
    }
    seen.set(anchor, 0);
    result.add(anchor);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// .gitignore

/**
 * Whether .gitignore's patterns cover a path, as git decides it: the last pattern that matches
 * wins, `!` re-includes, a trailing `/` matches folders only, a pattern with a slash is anchored
 * at the root, `*` stays within a segment, and a path under an ignored folder is ignored. A path
 * written with a trailing slash is a folder.
 */
export function gitignoreMatcher(text: string): (path: string) => boolean {
  const patterns = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      let pattern = negate ? line.slice(1) : line;
      const folderOnly = pattern.endsWith('/');
      if (folderOnly) pattern = pattern.slice(0, -1);
      const anchored = pattern.includes('/');
      if (pattern.startsWith('/')) pattern = pattern.slice(1);
      const body = pattern
        .split(/(\*\*\/|\*\*|\*|\?)/)
        .map((part) => {
          if (part === '**/') return '(?:.*/)?';
          if (part === '**') return '.*';
          if (part === '*') return '[^/]*';
          if (part === '?') return '[^/]';
          return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
        })
        .join('');
      return { negate, folderOnly, anchored, regex: new RegExp(`^${body}$`) };
    });
  return (path) => {
    const folder = path.endsWith('/');
    const segments = path.replace(/\/+$/, '').split('/');
    for (let depth = 1; depth <= segments.length; depth++) {
      const isFolder = depth < segments.length || folder;
      const sub = segments.slice(0, depth).join('/');
      let ignored = false;
      for (const pattern of patterns) {
        if (pattern.folderOnly && !isFolder) continue;
        if (pattern.regex.test(pattern.anchored ? sub : segments[depth - 1]!))
          ignored = !pattern.negate;
      }
      if (ignored) return true;
    }
    return false;
  };
}

// ---------------------------------------------------------------------------------------------
// Rule 1: repository paths

/** Root documents a text may name bare, checked even when absent (a promised CHANGELOG.md). */
const ROOT_DOCUMENT = /^[A-Z][A-Z0-9_-]*\.md$/;

/** Words of a code span or a command line that may be paths. */
const words = (text: string) => text.split(/[\s=,;|()'"]+/).filter(Boolean);

/**
 * The repository path a word names, or undefined when it names none: a word with a slash whose
 * first segment is a name in the root folder (`infra/stacks/azure.ts`, `.ci/run`, `docs/x.md`),
 * or a root document's name (`SECURITY.md`). Not paths: absolute paths (`/srv/refresher`), home
 * paths, URLs, options, `name:tag` images and `host:port`, and words relative to some other
 * folder (`src/main.ts`, `./x`). A `:12` line suffix and a `#anchor` are split off. A placeholder
 * (`<name>`, `*`, `{a,b}`, `…`, `$VAR`) makes the word an example: only the folder before it
 * must exist (`.secrets/<name>.json` names `.secrets/`).
 */
export function pathIn(
  word: string,
  topLevel: ReadonlySet<string>,
): { path: string; anchor?: string } | undefined {
  let token = word.replace(/^[([{'"]+/, '').replace(/[)\]}'",.;:!?]+$/, '');
  if (!token || /^[/~@$-]/.test(token) || token.includes('://')) return undefined;
  token = token.replace(/:\d+(?:-\d+)?$/, '');
  if (token.includes(':')) return undefined;
  let anchor: string | undefined;
  const hash = token.indexOf('#');
  if (hash >= 0) {
    anchor = token.slice(hash + 1) || undefined;
    token = token.slice(0, hash);
  }
  const placeholder = token.search(/[<>*{}…$%[\]]/);
  if (anchor && /[<>*{}…$%[\]]/.test(anchor)) anchor = undefined;
  if (placeholder >= 0) {
    token = token.slice(0, token.lastIndexOf('/', placeholder) + 1);
    anchor = undefined;
  }
  if (!token) return undefined;
  if (token.includes('/'))
    return topLevel.has(token.split('/')[0]!) ? { path: token, anchor } : undefined;
  return ROOT_DOCUMENT.test(token) ? { path: token, anchor } : undefined;
}

/**
 * A fenced block marked `text` shows output (a listing of the render folder, a log), whose words
 * are relative to wherever it was made: paths and variables are not read from it.
 */
const isCommand = ({ lang }: { lang: string }) => lang !== 'text';

/**
 * Every path a document names in code spans and fenced blocks, with its line; in prose, only
 * root documents (a DESIGN.md the text leans on must be there, backticks or not).
 */
export function namedPaths(
  doc: ParsedDoc,
  topLevel: ReadonlySet<string>,
): { line: number; path: string; anchor?: string }[] {
  const inCode = [...doc.spans, ...doc.fenced.filter(isCommand)].flatMap(({ line, text }) =>
    words(text).flatMap((word) => {
      const found = pathIn(word, topLevel);
      return found ? [{ line, ...found }] : [];
    }),
  );
  const inProse = doc.prose.flatMap(({ line, text }) =>
    // Link targets are rule 5's; the words around them are the text's.
    words(text.replace(/\]\([^)]*\)/g, '] ')).flatMap((word) => {
      const found = pathIn(word, topLevel);
      return found && !found.path.includes('/') ? [{ line, ...found }] : [];
    }),
  );
  return [...inCode, ...inProse].sort((a, b) => a.line - b.line);
}

export function checkPaths(doc: ParsedDoc, facts: RepoFacts): Finding[] {
  return namedPaths(doc, facts.topLevel).flatMap(({ line, path, anchor }): Finding[] => {
    // A bare root document may also be the one beside the text (docs/README.md).
    const candidates = path.includes('/')
      ? [path]
      : [path, posix.join(posix.dirname(doc.file), path)];
    const found = candidates.find((candidate) => facts.exists(candidate));
    if (!found)
      return facts.ignored(path)
        ? []
        : [{ file: doc.file, line, message: `names ${path}, which is not in the repository` }];
    const targetAnchors = anchor === undefined ? undefined : facts.anchorsOf(found);
    if (targetAnchors && !targetAnchors.has(anchor!.toLowerCase()))
      return [{ file: doc.file, line, message: `names ${found}#${anchor}: no such heading` }];
    return [];
  });
}

// ---------------------------------------------------------------------------------------------
// Rules 2 and 3: npm scripts and the CLI's roles

/** The npm scripts a text names (`npm run X`, `npm run -s X`, `npm start`, `npm test`). */
export function namedScripts(doc: ParsedDoc): { line: number; script: string }[] {
  return doc.lines.flatMap(({ line, text }) =>
    [
      ...text.matchAll(/\bnpm run(?: +-(?:s|-silent))? +([a-z][a-z0-9:_-]*)/g),
      ...text.matchAll(/\bnpm (start|test)\b/g),
    ].map((match) => ({ line, script: match[1]! })),
  );
}

export function checkScripts(doc: ParsedDoc, facts: RepoFacts): Finding[] {
  return namedScripts(doc)
    .filter(({ script }) => !facts.scripts.has(script))
    .map(({ line, script }) => ({
      file: doc.file,
      line,
      message: `npm run ${script}: no such script in package.json`,
    }));
}

/** The roles a text runs (`npx refresher ROLE`, `node app/bin/refresher.js ROLE`). */
export function namedRoles(doc: ParsedDoc): { line: number; role: string }[] {
  return doc.lines.flatMap(({ line, text }) =>
    [...text.matchAll(/\b(?:npx refresher|refresher\.js)\s+([a-z][a-z0-9-]*)/g)].map((match) => ({
      line,
      role: match[1]!,
    })),
  );
}

export function checkRoles(doc: ParsedDoc, facts: RepoFacts): Finding[] {
  return namedRoles(doc)
    .filter(({ role }) => !facts.roles.has(role))
    .map(({ line, role }) => ({
      file: doc.file,
      line,
      message: `npx refresher ${role}: the CLI has no such role (refresher --help)`,
    }));
}

// ---------------------------------------------------------------------------------------------
// Rule 4: environment variables

/** SNAKE_CASE capitals: the shape of the app's variables (a single word too often is not one). */
const ENV_SHAPE = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$/;

/**
 * The variables a piece of code names: the whole of it (`DATABASE_URL`, `$PORT`), an assignment
 * (`LOG_LEVEL=debug npm start`), an expansion (`${REDIS_URL}`) or a read (`process.env.X`).
 */
export function variablesIn(text: string): string[] {
  const names = new Set<string>();
  const whole = /^\$?\{?([A-Z][A-Z0-9_]*)\}?$/.exec(text.trim());
  if (whole) names.add(whole[1]!);
  for (const match of text.matchAll(/(?:^|[\s;&|(])(?:export\s+)?([A-Z][A-Z0-9_]*)=/g))
    names.add(match[1]!);
  for (const match of text.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)) names.add(match[1]!);
  for (const match of text.matchAll(/\benv(?:\?)?\.([A-Z][A-Z0-9_]*)/g)) names.add(match[1]!);
  return [...names];
}

/**
 * The shell variables a document's own blocks assign and then expand (`SA_ID=$(az …)`, then
 * `--scope "$SA_ID"`): a script's local names, not the repository's. An assignment alone
 * (`export LOG_LEVEL=debug`) sets a variable for a program, and is checked.
 */
export function ownVariables(doc: ParsedDoc): Set<string> {
  const assigned = new Set<string>();
  const expanded = new Set<string>();
  for (const { text } of doc.fenced) {
    for (const match of text.matchAll(/(?:^|[\s;&|(])(?:export\s+)?([A-Z][A-Z0-9_]*)=/g))
      assigned.add(match[1]!);
    for (const match of text.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)) expanded.add(match[1]!);
  }
  return new Set([...assigned].filter((name) => expanded.has(name)));
}

export function checkVariables(doc: ParsedDoc, facts: RepoFacts): Finding[] {
  const own = ownVariables(doc);
  const known = (name: string) =>
    facts.appEnv.has(name) ||
    facts.knownNames.has(name) ||
    own.has(name) ||
    facts.envPrefixes.some((prefix) => name.startsWith(prefix));
  return [...doc.spans, ...doc.fenced.filter(isCommand)].flatMap(({ line, text }) =>
    variablesIn(text)
      .filter((name) => (ENV_SHAPE.test(name) || facts.appEnv.has(name)) && !known(name))
      .map((name) => ({
        file: doc.file,
        line,
        message: `${name}: not a variable of contract/env.ts, nor a name the repository's code uses`,
      })),
  );
}

/**
 * The SNAKE_CASE capitals a file of code spells out: the variables it reads (`process.env.X`,
 * `env.X`), sets (the catalogue's container environments, YAML's `environment:`, shell
 * assignments), expands (`$X`), or names in a string or a comment, and its constants (a doc may
 * name `SHUTDOWN_GRACE_MS`, which is code and exists). A name no code spells is one nothing reads.
 */
export function namesInCode(text: string): string[] {
  return [...new Set([...text.matchAll(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g)].map((m) => m[0]))];
}

// ---------------------------------------------------------------------------------------------
// Rule 5: relative links and anchors

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** A percent-encoded part of a link as text; a malformed escape stays as written. */
const decode = (text: string) => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/** Where a relative link's path points, from the repository's root (a folder keeps its slash). */
export function resolveLink(from: string, target: string): string {
  const decoded = decode(target);
  // GitHub resolves a leading slash at the repository's root.
  const path = decoded.startsWith('/')
    ? posix.normalize(decoded.slice(1))
    : posix.join(posix.dirname(from), decoded);
  return decoded.endsWith('/') && !path.endsWith('/') ? `${path}/` : path;
}

export function checkLinks(doc: ParsedDoc, facts: RepoFacts): Finding[] {
  return doc.links.flatMap(({ line, text: target }): Finding[] => {
    if (!target || SCHEME.test(target) || target.startsWith('//')) return [];
    const hash = target.indexOf('#');
    const rawPath = (hash >= 0 ? target.slice(0, hash) : target).replace(/\?.*$/, '');
    const anchor = hash >= 0 ? decode(target.slice(hash + 1)) : undefined;
    let path = doc.file;
    if (rawPath) {
      path = resolveLink(doc.file, rawPath);
      if (path.startsWith('../') || path === '..' || !facts.exists(path))
        return [{ file: doc.file, line, message: `link to ${target}: ${path} does not exist` }];
    }
    if (anchor === undefined) return [];
    const targetAnchors = rawPath ? facts.anchorsOf(path) : anchors(doc);
    // Anchors into other files (source lines, #L12) are GitHub's business, not a heading's.
    if (!targetAnchors || targetAnchors.has(anchor.toLowerCase())) return [];
    return [
      { file: doc.file, line, message: `link to ${target}: no heading #${anchor} in ${path}` },
    ];
  });
}

// ---------------------------------------------------------------------------------------------
// Rule 6: claims that something is still to be done

/** Wordings that say something is not there yet; docs/testing.md lists them for writers. */
const CLAIMS = [
  /\b(?:to come|coming soon|not (?:yet )?implemented(?: yet)?|not yet (?:built|written|available|supported|done|wired|there|here|in place)|will be added)\b|\(planned\)/i,
  // In capitals only: a "todo list" is no promise.
  /\b(?:TODO|TBD)\b/,
];

/** The first claim wording in a text, outside quotes and code: those mention a wording. */
export function claimIn(text: string): RegExpExecArray | undefined {
  const bare = text.replace(/"[^"]*"|“[^”]*”|`[^`]*`/g, (quote) => ' '.repeat(quote.length));
  return CLAIMS.map((pattern) => pattern.exec(bare) ?? undefined)
    .filter((match) => match !== undefined)
    .sort((a, b) => a.index - b.index)[0];
}

/** An issue reference: `issue 20`, `issues 3 and 4`, `#20`, a link to …/issues/20. */
const ISSUE_REFERENCE = /\bissues? #?\d+|(?:^|[\s(])#\d+\b|\/issues\/\d+/i;

interface Sentence {
  /** The line the sentence starts on. */
  line: number;
  text: string;
  /** Where each of its lines starts in the text, for the line of a word in it. */
  lineStarts: { offset: number; line: number }[];
  /** A line of a fenced block, whose words are read as a command's. */
  fenced?: boolean;
}

/** The line a character of a sentence is on. */
const lineAt = (sentence: Sentence, index: number) =>
  sentence.lineStarts.findLast((start) => start.offset <= index)?.line ?? sentence.line;

/**
 * The sentences of a document's prose: paragraphs (blank lines, headings, list items and table
 * rows end them) split after `.`, `!`, `?` or `;`, and table cells on their own; every line of a
 * fenced block is a sentence. Code spans are back in place.
 */
export function sentences(doc: ParsedDoc): Sentence[] {
  const original = new Map(doc.lines.map(({ line, text }) => [line, text]));
  const result: Sentence[] = [];
  let starts: { offset: number; line: number }[] = [];
  let buffer = '';
  const single = (line: number, text: string): Sentence => ({
    line,
    text,
    lineStarts: [{ offset: 0, line }],
  });
  const flush = () => {
    let from = 0;
    for (const part of buffer.split(/(?<=[.!?;])\s+/)) {
      const at = buffer.indexOf(part, from);
      from = at + part.length;
      if (!part.trim()) continue;
      const inside = starts
        .filter((start) => start.offset < at + part.length)
        .map((start) => ({ offset: Math.max(0, start.offset - at), line: start.line }));
      result.push({
        line: lineAt({ line: 0, text: '', lineStarts: inside }, 0),
        text: part,
        lineStarts: inside,
      });
    }
    starts = [];
    buffer = '';
  };
  for (const { line } of doc.prose) {
    const text = original.get(line)!;
    const trimmed = text.trim();
    if (trimmed.startsWith('|')) {
      flush();
      for (const cell of trimmed.split('|')) if (cell.trim()) result.push(single(line, cell));
      continue;
    }
    if (!trimmed || HEADING.test(text) || /^(?:[-*+]|\d+[.)])\s/.test(trimmed)) flush();
    if (!trimmed) continue;
    starts.push({ offset: buffer.length, line });
    buffer += `${trimmed} `;
    if (HEADING.test(text)) flush();
  }
  flush();
  for (const { line, text } of doc.fenced) result.push({ ...single(line, text), fenced: true });
  return result.sort((a, b) => a.line - b.line);
}

/**
 * A claim that something is still to come must say where it is tracked (an issue reference), and
 * it is stale when the same sentence names something that exists: a path in the repository (not
 * one .gitignore covers), an npm script, a role of the CLI, a variable of the app, or a relative
 * link that resolves. Whatever the claim promises is then, most likely, there.
 */
export function checkClaims(doc: ParsedDoc, facts: RepoFacts): Finding[] {
  return sentences(doc).flatMap((sentence): Finding[] => {
    const { text } = sentence;
    const claim = claimIn(text);
    if (!claim) return [];
    const line = lineAt(sentence, claim.index);
    const findings: Finding[] = [];
    const quoted = `"${claim[0]}"`;
    if (!ISSUE_REFERENCE.test(text))
      findings.push({
        file: doc.file,
        line,
        message: `${quoted} without an issue reference (say which issue tracks it)`,
      });
    const piece = parseMarkdown(doc.file, sentence.fenced ? `\`\`\`\n${text}\n\`\`\`` : text);
    const existing = [
      ...namedPaths(piece, facts.topLevel)
        .filter(({ path }) => facts.exists(path) && !facts.ignored(path))
        .map(({ path }) => path),
      ...namedScripts(piece)
        .filter(({ script }) => facts.scripts.has(script))
        .map(({ script }) => `npm run ${script}`),
      ...namedRoles(piece)
        .filter(({ role }) => facts.roles.has(role))
        .map(({ role }) => `npx refresher ${role}`),
      ...piece.spans.flatMap(({ text: span }) =>
        variablesIn(span).filter((name) => facts.appEnv.has(name)),
      ),
      ...piece.links
        .map(({ text: target }) => target.replace(/[#?].*$/, ''))
        .filter((target) => target && !SCHEME.test(target) && !target.startsWith('//'))
        .filter((target) => facts.exists(resolveLink(doc.file, target))),
    ];
    if (existing.length)
      findings.push({
        file: doc.file,
        line,
        message: `${quoted} beside ${[...new Set(existing)].join(', ')}, which exists: stale?`,
      });
    return findings;
  });
}

// ---------------------------------------------------------------------------------------------
// Rule 7: runbook annotations

/** A runbook link and where it is made: an alert of prometheus/rules.ts, or a literal in code. */
export interface RunbookLink {
  file: string;
  line: number;
  /** The alert the link belongs to, for the message. */
  alert: string;
  runbook: string;
}

/** The alerts' runbook links, placed at the line of prometheus/rules.ts that names each alert. */
export function ruleRunbooks(
  rules: readonly { alert: string; annotations: { runbook: string } }[],
  source: { file: string; text: string },
): RunbookLink[] {
  const lines = source.text.split('\n');
  const unique = new Map(rules.map((rule) => [`${rule.alert} ${rule.annotations.runbook}`, rule]));
  return [...unique.values()].map(({ alert, annotations: { runbook } }) => {
    const index = lines.findIndex((text) => text.includes(`'${alert}'`));
    return { file: source.file, line: index >= 0 ? index + 1 : 1, alert, runbook };
  });
}

/**
 * Runbook links written out in code (`runbook: 'docs/runbooks.md#…'`): the portal's test
 * notification, the expected annotations of the promtool tests.
 */
export function literalRunbooks(file: string, text: string): RunbookLink[] {
  return text.split('\n').flatMap((content, index) =>
    [...content.matchAll(/\brunbook:\s*['"`]([^'"`$]+)['"`]/g)].map((match) => ({
      file,
      line: index + 1,
      alert: match[1]!.replace(/^.*#/, ''),
      runbook: match[1]!,
    })),
  );
}

export function checkRunbooks(links: readonly RunbookLink[], facts: RepoFacts): Finding[] {
  return links.flatMap(({ file, line, alert, runbook }): Finding[] => {
    const [path = '', anchor] = runbook.split('#');
    const targetAnchors = facts.exists(path) ? facts.anchorsOf(path) : undefined;
    if (!targetAnchors)
      return [{ file, line, message: `${alert}: runbook ${runbook}: no such Markdown file` }];
    if (anchor === undefined || !targetAnchors.has(anchor))
      return [{ file, line, message: `${alert}: runbook ${runbook}: no such heading in ${path}` }];
    return [];
  });
}

// ---------------------------------------------------------------------------------------------
// The repository

/** Files under a folder, relative to the root, skipping what `skip` says (folders end in /). */
export function walk(root: string, skip: (path: string) => boolean, under = ''): string[] {
  return readdirSync(join(root, under), { withFileTypes: true }).flatMap((entry) => {
    const path = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return skip(`${path}/`) ? [] : walk(root, skip, path);
    return entry.isFile() && !skip(path) ? [path] : [];
  });
}

/** Files whose text the names of the code come from: not docs, images or archives. */
const NOT_CODE = new Set([
  '.md',
  '.png',
  '.jpg',
  '.jpeg',
  '.gif',
  '.svg',
  '.ico',
  '.gz',
  '.dump',
  '.woff2',
]);

/** A text file that is not a document: names and runbook links are read from these. */
export function isCode(root: string, file: string): boolean {
  if (NOT_CODE.has(extname(file).toLowerCase())) return false;
  return !readFileSync(join(root, file)).includes(0);
}

export function codeNames(root: string, files: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const file of files)
    for (const name of namesInCode(readFileSync(join(root, file), 'utf8'))) names.add(name);
  return names;
}
