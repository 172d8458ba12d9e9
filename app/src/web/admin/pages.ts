// What every portal route shares: async handlers, "not found" and error pages, and showing the
// problems of a submitted form next to it.
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../../log.ts';
import { ForbiddenError, NotFoundError } from '../../errors.ts';
import type { FieldIssue } from '../../validation.ts';
import { clientErrorOf, logServerError } from '../errors.ts';
import { html, type SafeHtml } from '../html.ts';
import { render } from './layout.ts';

export class NotFoundPage extends Error {
  override name = 'NotFoundPage';
}

export class ForbiddenPage extends Error {
  override name = 'ForbiddenPage';
}

export function asyncPage(
  handler: (request: Request, response: Response) => Promise<void>,
): RequestHandler {
  return (request: Request, response: Response, next: NextFunction) => {
    handler(request, response).catch(next);
  };
}

/** Query values from a GET form: empty fields mean "no filter", not "filter by empty". */
export function withoutEmpty(query: Request['query']): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== ''));
}

/**
 * The lists' date filters as their form means them: "Until 2026-12-04" includes that day, so a
 * day-only `to` becomes the next midnight (UTC); a full time (from a page link) stays as it is.
 */
export function untilEndOfDay(query: Record<string, unknown>): Record<string, unknown> {
  const to = query.to;
  if (typeof to !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(to)) return query;
  const next = new Date(`${to}T00:00:00.000Z`);
  if (Number.isNaN(next.getTime())) return query;
  next.setUTCDate(next.getUTCDate() + 1);
  return { ...query, to: next.toISOString() };
}

/** A From after the Until would match nothing: said, instead of an empty list. */
export function dateRangeIssues(filters: { from?: Date; to?: Date }): FieldIssue[] {
  return filters.from && filters.to && filters.from >= filters.to
    ? [{ path: 'to', message: 'expected a day on or after From' }]
    : [];
}

/** Whether an issue belongs to a field (`kwargs.servers` belongs to `kwargs`). */
const belongsTo = (issue: FieldIssue, field: string) =>
  issue.path === field || issue.path.startsWith(`${field}.`);

/**
 * The top of a refused form: that nothing was saved, and the problems no field of the form shows
 * beside itself (`fields`: those that do). Each problem is shown once, beside its field if it has
 * one, all of them at once.
 */
export function issueList(issues: FieldIssue[], fields: readonly string[] = []): SafeHtml | string {
  if (issues.length === 0) return '';
  const elsewhere = issues.filter((issue) => !fields.some((field) => belongsTo(issue, field)));
  const marked = issues.length - elsewhere.length;
  return html`<div class="errors" role="alert">
    <p>
      Nothing was saved.
      ${
        marked
          ? `Please correct the ${marked === 1 ? 'field' : `${marked} problems`} marked below.`
          : 'Please correct:'
      }
    </p>
    ${
      elsewhere.length
        ? html`<ul>
            ${elsewhere.map(
              (issue) =>
                html`<li>
                  ${issue.path ? html`<code>${issue.path}</code>: ` : ''}${issue.message}
                </li>`,
            )}
          </ul>`
        : ''
    }
  </div>`;
}

/** The problem with one form field, shown under it. */
export function fieldError(issues: FieldIssue[], field: string): SafeHtml | string {
  const mine = issues.filter((issue) => belongsTo(issue, field));
  return mine.length
    ? html`<span class="field-error"
        >${mine
          .map((i) =>
            i.path === field ? i.message : `${i.path.slice(field.length + 1)}: ${i.message}`,
          )
          .join('; ')}</span
      >`
    : '';
}

/**
 * The IP version and source address fields a speed test schedule and a probe share, with their
 * problems beside them. `either` says what no choice of version means for that form.
 */
export function familyAndSourceFields(
  values: Record<string, string | undefined>,
  issues: FieldIssue[],
  either: string,
): SafeHtml {
  const v = (field: string) => values[field] ?? '';
  const selected = (value: string) => (v('family') === value ? html`selected` : '');
  return html`<label
      >IP version
      <select name="family">
        <option value="" ${selected('')}>${either}</option>
        <option value="4" ${selected('4')}>IPv4 only</option>
        <option value="6" ${selected('6')}>IPv6 only</option>
      </select></label
    >
    ${fieldError(issues, 'family')}
    <label
      >Source address
      <input
        name="sourceAddress"
        value="${v('sourceAddress')}"
        placeholder="the worker's default route"
        spellcheck="false"
    /></label>
    ${fieldError(issues, 'sourceAddress')}`;
}

/** Portal errors as pages (the API answers JSON on its own). */
export function pageErrors(log: Logger): ErrorRequestHandler {
  return (error, request, response, next) => {
    if (response.headersSent) return next(error);
    const page = (status: number, title: string, message: string) =>
      // No entry of the navigation is current: an error page is none of them (not Home).
      render(request, response, { title, section: null, status, body: html`<p>${message}</p>` });
    if (error instanceof NotFoundPage || error instanceof NotFoundError) {
      page(404, 'Not found', (error as Error).message);
    } else if (error instanceof ForbiddenPage || error instanceof ForbiddenError) {
      page(403, 'Not allowed', (error as Error).message);
    } else if (clientErrorOf(error)) {
      const known = clientErrorOf(error)!;
      page(
        known.status,
        'Not accepted',
        `${known.message[0]!.toUpperCase()}${known.message.slice(1)}.`,
      );
    } else {
      const errorId = logServerError(log, error, request);
      page(
        500,
        'Something went wrong',
        `The error is in the web role's log (error id ${errorId}). Try again shortly.`,
      );
    }
  };
}
