// zod's messages in words, for every schema of the app that gives none of its own. zod's speak of
// its types ("Invalid input: expected number, received string", "expected date, received Date"
// for an empty date); people filling a form or writing a request, and whoever reads a parse error
// of an engine's output, get "expected a number, got text" instead. A global setting of zod, so
// every module that shows zod's messages imports this one (validation.ts, config.ts, the engines'
// parsers): the words do not depend on which modules a process happens to load first.
import { z } from 'zod';

const TYPE_WORDS: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list',
  tuple: 'a list',
  object: 'an object',
  record: 'an object',
  date: 'a date and time (ISO 8601, e.g. 2026-12-04T09:30:00Z)',
  null: 'nothing (null)',
};

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'no valid date' : 'a date';
  if (typeof value === 'string') return value === '' ? 'nothing' : 'text';
  return TYPE_WORDS[typeof value] ?? typeof value;
}

function sizeWords(origin: string, count: number | bigint): string {
  if (origin === 'string') return `${count} character${count === 1 ? '' : 's'}`;
  if (origin === 'array' || origin === 'set') return `${count} item${count === 1 ? '' : 's'}`;
  return String(count);
}

z.config({
  customError: (issue) => {
    switch (issue.code) {
      case 'invalid_type':
        if (issue.input === undefined) return 'required';
        return `expected ${TYPE_WORDS[issue.expected] ?? issue.expected}, got ${typeOf(issue.input)}`;
      case 'too_small':
        if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'required';
        return `expected ${issue.inclusive === false ? 'more than' : 'at least'} ${sizeWords(issue.origin, issue.minimum as number)}`;
      case 'too_big':
        return `expected ${issue.inclusive === false ? 'less than' : 'at most'} ${sizeWords(issue.origin, issue.maximum as number)}`;
      case 'invalid_value':
        return issue.values.length === 1
          ? `expected ${JSON.stringify(issue.values[0])}`
          : `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
      case 'invalid_format':
        return issue.format === 'url' ? 'expected a URL' : undefined;
      default:
        return undefined;
    }
  },
});
