// How values look on the portal's pages. Times are rendered in UTC with a machine-readable
// datetime attribute; admin.js rewrites them into the reader's own time zone.
import { html, type SafeHtml } from '../html.ts';

export const DASH = '–';

export function time(value: Date | string | null | undefined): SafeHtml | string {
  if (!value) return DASH;
  const date = value instanceof Date ? value : new Date(value);
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

export function mbps(bitsPerSecond: number | null | undefined): string {
  return bitsPerSecond === null || bitsPerSecond === undefined
    ? DASH
    : `${(bitsPerSecond / 1e6).toFixed(1)} Mbit/s`;
}

export function ms(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined ? DASH : `${value.toFixed(digits)} ms`;
}

export function num(value: number | null | undefined, digits = 4): string {
  return value === null || value === undefined ? DASH : String(Number(value.toFixed(digits)));
}

export function status(value: string): SafeHtml {
  return html`<span class="badge badge-${value}">${value}</span>`;
}

/** A `<date>` input's value (YYYY-MM-DD) for a Date, or ''. */
export function dateInput(value: Date | undefined): string {
  return value ? value.toISOString().slice(0, 10) : '';
}

/** The day an "Until" filter shows: the day before its exclusive end (see untilEndOfDay). */
export function untilInput(value: Date | undefined): string {
  return value ? dateInput(new Date(value.getTime() - 1)) : '';
}

/** A `datetime-local` input's value in UTC (YYYY-MM-DDTHH:MM), or ''. */
export function dateTimeInput(value: Date | null | undefined): string {
  return value ? value.toISOString().slice(0, 16) : '';
}

/** The query string of `params` without empty values, for links that keep the current filters. */
export function queryString(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    search.set(key, value instanceof Date ? value.toISOString() : String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
