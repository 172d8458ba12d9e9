// Request duration by route pattern (not by URL: /api/items/1 and /api/items/2 are one series),
// method and status. Requests that matched no route share one label, so a scan of random paths
// cannot create unbounded series.
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
