// A browser's worth of HTTP state for tests that need no real browser: one cookie jar, manual
// redirects, and the portal's form conventions (a CSRF field in every form).
import assert from 'node:assert/strict';

export class CookieClient {
  cookies = new Map<string, string>();
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) {
      headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const response = await fetch(`${this.base}${path}`, { ...init, headers, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const [name, value] = pair!.split('=');
      if (value) this.cookies.set(name!, value);
      else this.cookies.delete(name!);
    }
    return response;
  }

  /** The CSRF token of the form on `path` (the sign-in page by default). */
  async csrf(path = '/login'): Promise<string> {
    const body = await (await this.request(path)).text();
    const match = /name="_csrf" value="([^"]+)"/.exec(body);
    assert.ok(match, `no CSRF field on ${path}`);
    return match[1]!;
  }

  form(path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
    return this.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  }

  async signIn(username: string, password: string): Promise<Response> {
    return this.form('/login', { username, password, _csrf: await this.csrf() });
  }
}
