// One definition per endpoint: its zod schemas validate the request, type the handler and
// produce the OpenAPI document, so the documentation cannot drift from the code.
import { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import type { User } from '../../db/models.ts';
import { ForbiddenError, NotFoundError } from '../../errors.ts';
import { issuesOf, ValidationError } from '../../validation.ts';
import { currentUser } from '../auth/middleware.ts';

type Method = 'get' | 'post' | 'patch' | 'delete';

export interface EndpointInput<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  user: User;
  request: Request;
  response: Response;
}

export interface Endpoint<
  P extends z.ZodType,
  Q extends z.ZodType,
  B extends z.ZodType,
  R extends z.ZodType,
> {
  method: Method;
  /** Express syntax: `/periodic-tasks/:id`. */
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  /** The JSON answer; omit for answers that are not JSON (CSV) or empty (204). */
  response?: R;
  status?: number;
  /** A non-JSON answer's media type, for the document. */
  produces?: string;
  handler(input: EndpointInput<z.output<P>, z.output<Q>, z.output<B>>): Promise<z.input<R> | void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyEndpoint = Endpoint<any, any, any, any>;

export function endpoint<
  P extends z.ZodType = z.ZodObject<Record<never, z.ZodType>>,
  Q extends z.ZodType = z.ZodObject<Record<never, z.ZodType>>,
  B extends z.ZodType = z.ZodUnknown,
  R extends z.ZodType = z.ZodUnknown,
>(spec: Endpoint<P, Q, B, R>): Endpoint<P, Q, B, R> {
  return spec;
}

function parsePart<S extends z.ZodType>(
  schema: S | undefined,
  value: unknown,
  where: string,
): z.output<S> {
  if (!schema) return {} as z.output<S>;
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new ValidationError(issuesOf(parsed.error, where === 'body' ? [] : [where]));
  return parsed.data;
}

/** Express routes for the endpoints; bad input is a 400 naming the fields, unknown ids a 404. */
export function apiRouter(endpoints: AnyEndpoint[]): Router {
  const router = Router();
  for (const spec of endpoints) {
    router[spec.method](spec.path, async (request, response, next) => {
      try {
        const input = {
          params: parsePart(spec.params, request.params, 'params'),
          query: parsePart(spec.query, request.query, 'query'),
          body: parsePart(spec.body, request.body ?? {}, 'body'),
          user: currentUser(response.locals),
          request,
          response,
        };
        const result = await spec.handler(input);
        if (response.headersSent) return;
        if (result === undefined) response.status(spec.status ?? 204).end();
        else response.status(spec.status ?? 200).json(result);
      } catch (error) {
        if (error instanceof ValidationError) {
          response.status(400).json({ error: 'invalid request', issues: error.issues });
        } else if (error instanceof NotFoundError) {
          response.status(404).json({ error: error.message });
        } else if (error instanceof ForbiddenError) {
          response.status(403).json({ error: error.message });
        } else next(error);
      }
    });
  }
  return router;
}

/** The body of every error answer of the API (route.ts, web/errors.ts, the auth middleware). */
export const apiError = z.object({
  error: z.string(),
  /** 400: each field at fault. */
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** 500: the id of the log line that holds the details. */
  errorId: z.string().optional(),
});

function errorResponses(descriptions: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(descriptions).map(([status, description]) => [
      status,
      {
        description,
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    ]),
  );
}

/** JSON Schema of a zod schema as a request would write it (dates as strings). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: (ctx) => {
      if ((ctx.zodSchema as { _zod: { def: { type: string } } })._zod.def.type === 'date') {
        ctx.jsonSchema.type = 'string';
        ctx.jsonSchema.format = 'date-time';
      }
    },
  }) as Record<string, unknown>;
  return rest;
}

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input') as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(object.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (object.required ?? []).includes(name),
    schema: property,
  }));
}

export function openApiDocument(
  endpoints: AnyEndpoint[],
  info: { title: string; version: string; basePath: string },
) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of endpoints) {
    const path = `${info.basePath}${spec.path}`.replace(/:(\w+)/g, '{$1}');
    const status = String(spec.status ?? (spec.response || spec.produces ? 200 : 204));
    paths[path] ??= {};
    paths[path][spec.method] = {
      summary: spec.summary,
      tags: [spec.tag],
      parameters: [...parameters(spec.params, 'path'), ...parameters(spec.query, 'query')],
      ...(spec.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(spec.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [status]: {
          description: 'OK',
          ...(spec.response
            ? { content: { 'application/json': { schema: jsonSchema(spec.response, 'output') } } }
            : spec.produces
              ? { content: { [spec.produces]: { schema: { type: 'string' } } } }
              : {}),
        },
        ...errorResponses({
          '400': 'Invalid input: `issues` names each field at fault',
          '401': 'Not signed in and no valid bearer token',
          ...(spec.method === 'get'
            ? {}
            : { '403': 'Not allowed for this user (a task for admins only)' }),
          ...(spec.path.includes(':') ? { '404': 'No such id' } : {}),
          ...(spec.body ? { '413': 'The body is larger than 1 MB' } : {}),
          '500': 'A failure of the server: `errorId` finds it in the web role’s log',
        }),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: info.title, version: info.version },
    components: {
      schemas: { Error: jsonSchema(apiError, 'output') },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API token created in the portal (rf_…)',
        },
        session: { type: 'apiKey', in: 'cookie', name: 'refresher.sid' },
      },
    },
    security: [{ bearer: [] }, { session: [] }],
    paths,
  };
}
