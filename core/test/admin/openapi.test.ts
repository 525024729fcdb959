/**
 * The OpenAPI document matches the app: every route is documented and every documented operation
 * is served, every reference resolves, and the parameters are the validating schemas' own.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { createAdminApp, openApiDocument } from '../../src/admin/index.js';
import { createTaskManager, silentLogger } from '../../src/index.js';
import { BEARER, TOKEN } from './support.js';

type Json = Record<string, any>;

function mountedApp(): Hono {
  const manager = createTaskManager({ dryRun: true, logger: silentLogger });
  const parent = new Hono();
  parent.route('/admin', createAdminApp(manager, { token: TOKEN }));
  return parent;
}

/** Every `$ref` anywhere in `value`. */
function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, member]) =>
    key === '$ref' && typeof member === 'string' ? [member] : refsIn(member),
  );
}

describe('the OpenAPI document', () => {
  it('is served behind auth at openapi.json, with the mount point as its server', async () => {
    const app = mountedApp();
    expect((await app.request('/admin/openapi.json')).status).toBe(401);
    const response = await app.request('/admin/openapi.json', { headers: BEARER });
    expect(response.status).toBe(200);
    const document = (await response.json()) as Json;
    expect(document.openapi).toBe('3.1.0');
    expect(document.servers).toEqual([{ url: '/admin' }]);
    expect(document.security).toEqual([{ bearerAuth: [] }, { sessionCookie: [] }]);
  });

  it('documents exactly the routes the app serves', () => {
    const app = mountedApp();
    const served = app.routes
      .filter((route) => route.method === 'GET' || route.method === 'POST')
      .map(
        (route) => `${route.method} ${route.path.replace(/^\/admin/, '').replace(/:(\w+)/g, '{$1}') || '/'}`,
      );
    const document = openApiDocument('/admin') as Json;
    const documented = Object.entries(document.paths as Json).flatMap(([path, item]) =>
      Object.keys(item as Json).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect([...new Set(served)].sort()).toEqual([...documented].sort());
  });

  it('resolves every reference, and answers every failure with the Error schema', () => {
    const document = openApiDocument('') as Json;
    const schemas = document.components.schemas as Json;
    for (const ref of refsIn(document)) {
      expect(ref).toMatch(/^#\/components\/schemas\//);
      expect(schemas[ref.slice('#/components/schemas/'.length)], ref).toBeDefined();
    }
    for (const [path, item] of Object.entries(document.paths as Json)) {
      for (const [method, operation] of Object.entries(item as Json)) {
        for (const [status, response] of Object.entries(operation.responses as Json)) {
          if (Number(status) < 400) continue;
          expect(
            (response as Json).content['application/json'].schema,
            `${method} ${path} ${status}`,
          ).toEqual({
            $ref: '#/components/schemas/Error',
          });
        }
      }
    }
    expect(document.servers).toEqual([{ url: '/' }]);
  });

  it('describes the parameters and limits the app enforces', () => {
    const document = openApiDocument('/admin') as Json;
    const list = document.paths['/api/tasks'].get;
    const parameters = Object.fromEntries(
      list.parameters.map((parameter: Json) => [parameter.name, parameter]),
    );
    expect(Object.keys(parameters).sort()).toEqual(
      [
        'beforeId',
        'createdAfter',
        'createdBefore',
        'key',
        'limit',
        'status',
        'updatedAfter',
        'updatedBefore',
      ].sort(),
    );
    expect(parameters.limit).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    });
    expect(parameters.createdAfter.schema).toMatchObject({ type: 'string', format: 'date-time' });
    const one = document.paths['/api/tasks/{id}'].get;
    expect(one.parameters).toEqual([
      expect.objectContaining({
        name: 'id',
        in: 'path',
        required: true,
        schema: expect.objectContaining({ type: 'integer' }),
      }),
    ]);
    const rerun = document.components.schemas.RerunRequest;
    expect(rerun.properties.ids).toMatchObject({ type: 'array', minItems: 1, maxItems: 1000 });
    expect(rerun.required).toEqual(['ids', 'status']);
    expect(document.paths['/login'].post.security).toEqual([]);
    const trigger = document.paths['/api/schedules/{id}/trigger'].post;
    expect(trigger.parameters).toEqual([
      expect.objectContaining({
        name: 'id',
        in: 'path',
        required: true,
        schema: expect.objectContaining({ type: 'string', minLength: 1, maxLength: 255 }),
      }),
    ]);
    expect(Object.keys(trigger.responses).sort()).toEqual(
      ['200', '400', '401', '403', '404', '409', '413', '415'].sort(),
    );
    expect(document.components.schemas.Schedule.required).toEqual(
      expect.arrayContaining(['id', 'cron', 'timezone', 'paused', 'nextSlot', 'lastTask']),
    );
  });
});
