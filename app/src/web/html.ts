// A tagged template for server-rendered pages: every interpolated value is HTML-escaped unless it
// is itself the output of `html`, so escaping is the default and forgetting it is impossible.
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export class SafeHtml {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

function render(value: unknown): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  return new SafeHtml(
    strings.reduce((out, part, i) => out + part + (i < values.length ? render(values[i]) : ''), ''),
  );
}

/** Where the portal's stylesheet and scripts are served (public, like any site's CSS). */
export const ASSETS = '/admin/assets';

/** The frame every page shares; `scripts` are paths under ASSETS (no inline script: see CSP). */
export function page(
  title: string,
  body: SafeHtml,
  options: { scripts?: string[]; csrf?: string } = {},
): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex" />
        ${options.csrf ? html`<meta name="csrf-token" content="${options.csrf}" />` : ''}
        <title>${title} · Refresher</title>
        <link rel="icon" href="data:," />
        <link rel="stylesheet" href="${ASSETS}/admin.css" />
        ${(options.scripts ?? []).map(
          (script) => html`<script src="${ASSETS}/${script}" defer></script>`,
        )}
      </head>
      <body>
        ${body}
      </body>
    </html>`.value;
}
