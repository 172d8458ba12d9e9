// The queue board (bull-board: the Flower of this project) at /admin/queues, for admins only.
//
// bull-board is a single-page app whose own API calls (retry, clean, pause…) cannot carry our
// CSRF token, so state-changing requests to it must come from this very site: modern browsers
// say where a request came from in Sec-Fetch-Site (and Origin), and a cross-site one is refused.
// The session cookie's SameSite=Lax already keeps it off cross-site POSTs; this is the second
// lock on the same door.
import { Router, type RequestHandler } from 'express';
import type { Queues } from '../../queue/queues.ts';
import { currentUser } from '../auth/middleware.ts';
import { queueBoardPolicy } from '../security-headers.ts';
import { ADMIN } from './layout.ts';
import { ForbiddenPage } from './pages.ts';

export const QUEUE_BOARD = `${ADMIN}/queues`;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export const sameOriginWrites: RequestHandler = (request, response, next) => {
  if (SAFE_METHODS.has(request.method)) return next();
  const site = request.headers['sec-fetch-site'];
  const origin = request.headers.origin;
  const expected = `${request.protocol}://${request.get('host')}`;
  const sameOrigin = site ? site === 'same-origin' : origin === expected;
  if (!sameOrigin) {
    response.status(403).json({ error: 'cross-site request refused' });
    return;
  }
  next();
};

const adminsOnly: RequestHandler = (_request, response, next) => {
  if (!currentUser(response.locals).isAdmin) {
    return next(new ForbiddenPage('The queue board is for admins.'));
  }
  next();
};

/** bull-board's router, built on first use: it costs ~35 MB that an idle web role need not hold. */
async function boardRouter(queues: Queues): Promise<RequestHandler> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
  ]);
  const adapter = new ExpressAdapter().setBasePath(QUEUE_BOARD);
  createBullBoard({
    queues: queues.all().map((queue) => new BullMQAdapter(queue)),
    serverAdapter: adapter,
    options: {
      uiConfig: {
        boardTitle: 'Refresher queues',
        hideDocsLink: true,
        miscLinks: [{ text: 'Back to the portal', url: ADMIN }],
      },
    },
  });
  // The adapter's router is an Express app of its own, which would announce "X-Powered-By".
  const board = adapter.getRouter() as RequestHandler & { disable?: (setting: string) => void };
  board.disable?.('x-powered-by');
  return board;
}

// bull-board's page asks Google for its fonts (a third-party request, which the CSP refuses with
// a console error on every load) and keeps its link back to us in a menu. Its page, rendered from
// its own template, is edited on the way out: no font link, and a link back to the portal.
const FONT_LINK = /<link href="https:\/\/fonts\.googleapis\.com[^>]*>\s*/g;
const BACK_LINK = `<a href="${ADMIN}" style="position:fixed;right:0.75rem;bottom:0.75rem;z-index:2147483647;padding:0.35rem 0.7rem;border-radius:0.4rem;background:#1f5fbf;color:#fff;font:0.85rem system-ui,sans-serif;text-decoration:none">← Back to the portal</a>`;

const ownPage: RequestHandler = (_request, response, next) => {
  const render = response.render.bind(response);
  response.render = ((view: string, options?: object) =>
    render(view, options ?? {}, (error: Error | null, page?: string) => {
      if (error) return next(error);
      response.send(
        page!.replace(FONT_LINK, '').replace('<body class="preload">', `$&${BACK_LINK}`),
      );
    })) as typeof response.render;
  next();
};

export function queueBoard(queues: Queues): Router {
  let board: Promise<RequestHandler> | undefined;
  const router = Router();
  router.use(
    '/queues',
    adminsOnly,
    sameOriginWrites,
    queueBoardPolicy(),
    ownPage,
    (request, response, next) => {
      board ??= boardRouter(queues);
      board.then((handler) => handler(request, response, next), next);
    },
  );
  return router;
}
