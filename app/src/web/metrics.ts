// Request duration by route pattern (not by URL: /api/items/1 and /api/items/2 are one series),
// method and status. Requests answered before reaching a route (404s, but also sign-in redirects,
// 401/403 refusals, static assets and the queue board) share the label "unmatched", so a scan of
// random paths cannot create unbounded series.
import type { Request, RequestHandler } from 'express';
import type { Histogram } from 'prom-client';

function routeOf(request: Request): string {
  const path: unknown = request.route?.path;
  if (path === undefined) return 'unmatched';
  const pattern = Array.isArray(path) ? String(path[0]) : String(path);
  return `${request.baseUrl}${pattern}`;
}

export function httpMetrics(histogram: Histogram<'method' | 'route' | 'status'>): RequestHandler {
  return (request, response, next) => {
    const stop = histogram.startTimer();
    response.on('finish', () =>
      stop({
        method: request.method,
        route: routeOf(request),
        status: String(response.statusCode),
      }),
    );
    next();
  };
}
