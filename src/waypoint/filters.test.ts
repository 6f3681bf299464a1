import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  applyRequestFilters,
  applyResponseFilters,
  type Headers,
  modifyHeaders,
  type RequestHead,
  redirectLocation,
  rewritePath,
} from './filters.js';
import type { CompiledMatch, RouteFilter } from './types.js';

const prefix = (p: string): CompiledMatch => ({
  pathType: 'PathPrefix',
  path: p.replace(/\/+$/, ''),
  headers: [],
  query: [],
});

describe('waypoint filters', () => {
  it('ReplacePrefixMatch follows the Gateway API table', () => {
    const table: [string, string, string, string][] = [
      ['/foo', '/foo/bar', '/xyz', '/xyz/bar'],
      ['/foo', '/foo/bar', '/xyz/', '/xyz/bar'],
      ['/foo/', '/foo/bar', '/xyz', '/xyz/bar'],
      ['/foo/', '/foo/bar', '/xyz/', '/xyz/bar'],
      ['/foo', '/foo', '/xyz', '/xyz'],
      ['/foo/', '/foo', '/xyz', '/xyz'],
      ['/foo', '/foo/', '/xyz', '/xyz/'],
      ['/foo', '/foo', '', '/'],
      ['/foo', '/foo/', '', '/'],
      ['/foo', '/foo', '/', '/'],
      ['/foo', '/foo/', '/', '/'],
      ['/', '/bar', '/xyz', '/xyz/bar'],
      ['/foo', '/foo/bar?a=1', '/xyz', '/xyz/bar?a=1'],
    ];
    for (const [p, path, repl, want] of table) {
      assert.equal(
        rewritePath(path, { type: 'ReplacePrefixMatch', value: repl }, prefix(p)),
        want,
        `${p} ${path} ${repl}`,
      );
    }
    assert.equal(
      rewritePath('/a/b?x=1', { type: 'ReplaceFullPath', value: '/new' }, undefined),
      '/new?x=1',
    );
  });

  it('header modifier: set, add, remove', () => {
    const h: Headers = { a: '1', b: '2', c: '3' };
    modifyHeaders(h, {
      set: [['a', 'x']],
      add: [
        ['b', 'y'],
        ['d', 'z'],
      ],
      remove: ['c'],
    });
    assert.deepEqual(h, { a: 'x', b: '2,y', d: 'z' });
  });

  it('redirect location port and scheme rules', () => {
    const req: RequestHead = {
      method: 'GET',
      scheme: 'http',
      authority: 'echo:8080',
      path: '/a?q=1',
      headers: {},
    };
    const table: [Partial<Extract<RouteFilter, { type: 'RequestRedirect' }>>, number, string][] = [
      [{}, 8080, 'http://echo:8080/a?q=1'],
      [{}, 80, 'http://echo/a?q=1'],
      [{ scheme: 'https' }, 8080, 'https://echo/a?q=1'],
      [{ scheme: 'https', port: 8443 }, 80, 'https://echo:8443/a?q=1'],
      [{ hostname: 'other' }, 80, 'http://other/a?q=1'],
      [{ path: { type: 'ReplaceFullPath', value: '/b' } }, 80, 'http://echo/b?q=1'],
    ];
    for (const [f, listener, want] of table) {
      assert.equal(
        redirectLocation(
          { type: 'RequestRedirect', statusCode: 301, ...f },
          req,
          listener,
          undefined,
        ),
        want,
      );
    }
  });

  it('applies filters in order; redirect short-circuits; mirrors are collected', () => {
    const req: RequestHead = {
      method: 'GET',
      scheme: 'http',
      authority: 'echo',
      path: '/foo/x',
      headers: {},
    };
    const out = applyRequestFilters(
      [
        { type: 'RequestHeaderModifier', modifier: { set: [['x-a', '1']], add: [], remove: [] } },
        {
          type: 'URLRewrite',
          hostname: 'rewritten',
          path: { type: 'ReplacePrefixMatch', value: '/bar' },
        },
        { type: 'RequestMirror', service: 'd/shadow', port: 80, percent: 100 },
      ],
      req,
      80,
      prefix('/foo'),
    );
    assert.equal(out.kind, 'continue');
    assert.equal(out.kind === 'continue' && out.mirrors.length, 1);
    assert.equal(req.path, '/bar/x');
    assert.equal(req.headers.host, 'rewritten');
    assert.equal(req.headers['x-a'], '1');
    const r = applyRequestFilters(
      [{ type: 'RequestRedirect', statusCode: 302, scheme: 'https' }],
      req,
      80,
      undefined,
    );
    assert.deepEqual(r, { kind: 'redirect', status: 302, location: 'https://rewritten/bar/x' });
    const h: Headers = { server: 'x' };
    applyResponseFilters(
      [
        {
          type: 'ResponseHeaderModifier',
          modifier: { set: [['x-r', '1']], add: [], remove: ['server'] },
        },
      ],
      h,
    );
    assert.deepEqual(h, { 'x-r': '1' });
  });
});
