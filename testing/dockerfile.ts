// A small Dockerfile reader for tests (no Docker engine here): logical lines with their
// continuations joined, comments dropped, grouped into build stages, with the ARG defaults that
// come before the first FROM (the ones FROM lines may use).
export interface Instruction {
  keyword: string;
  /** Everything after the keyword, continuations joined with a space. */
  args: string;
  /** 1-based line of the instruction's first line. */
  line: number;
}

export interface Stage {
  /** The FROM argument with global ARG defaults substituted. */
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** Parser directives (# syntax=…, # escape=…) at the top. */
  directives: string[];
  globalArgs: Map<string, string>;
  stages: Stage[];
}

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split('\n');
  const directives: string[] = [];
  const logical: Instruction[] = [];
  let index = 0;
  // Directives are comments of the form `# key=value` before anything else.
  while (index < lines.length && /^#\s*\w+=/.test(lines[index]!)) directives.push(lines[index++]!);
  while (index < lines.length) {
    const start = index;
    let line = lines[index++]!;
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const parts: string[] = [];
    while (/\\\s*$/.test(line)) {
      parts.push(line.replace(/\\\s*$/, '').trim());
      // Comment lines inside a continuation are dropped, as Docker does.
      do line = lines[index++] ?? '';
      while (line.trimStart().startsWith('#') && index < lines.length);
    }
    parts.push(line.trim());
    const joined = parts.filter(Boolean).join(' ');
    const match = /^(\S+)\s*(.*)$/.exec(joined)!;
    logical.push({ keyword: match[1]!.toUpperCase(), args: match[2]!, line: start + 1 });
  }
  const globalArgs = new Map<string, string>();
  const stages: Stage[] = [];
  for (const instruction of logical) {
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/);
      stages.push({
        from: image.replace(
          /\$\{(\w+)\}|\$(\w+)/g,
          (_m, a: string, b: string) => globalArgs.get(a ?? b) ?? '',
        ),
        ...(as?.toUpperCase() === 'AS' && name ? { name } : {}),
        instructions: [],
      });
    } else if (!stages.length) {
      if (instruction.keyword === 'ARG') {
        const [key, value = ''] = instruction.args.split('=');
        globalArgs.set(key!.trim(), value.trim());
      }
    } else stages.at(-1)!.instructions.push(instruction);
  }
  return { directives, globalArgs, stages };
}

/** ARG defaults declared in a stage. */
export function stageArgs(stage: Stage): Map<string, string> {
  return new Map(
    stage.instructions
      .filter((i) => i.keyword === 'ARG')
      .map((i) => {
        const [key, value = ''] = i.args.split('=');
        return [key!.trim(), value.trim()];
      }),
  );
}
