import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type CorsConfig,
  compileCors,
  isPreflight,
  originAllowed,
  preflightFields,
  responseFields,
} from './cors.js';

const policy = (c: Partial<CorsConfig>) =>
  compileCors({
    allowOrigins: [],
    allowMethods: [],
    allowHeaders: [],
    exposeHeaders: [],
    allowCredentials: false,
    maxAgeSeconds: 0,
    ...c,
  });

describe('CORS origins (GEP-1767)', () => {
  const cases: [string[], string, boolean][] = [
    [['https://app.example'], 'https://app.example', true],
    [['https://app.example'], 'https://app.example:443', true],
    [['https://app.example'], 'https://APP.example', true],
    [['https://app.example'], 'http://app.example', false],
    [['https://app.example'], 'https://app.example:8443', false],
    [['http://app.example:8080'], 'http://app.example:8080', true],
    [['http://app.example:8080'], 'http://app.example', false],
    [['https://*.example.com'], 'https://a.example.com', true],
    // Greedy to the left: any number of labels.
    [['https://*.example.com'], 'https://a.b.example.com', true],
    [['https://*.example.com'], 'https://example.com', false],
    [['https://*.example.com'], 'https://evil-example.com', false],
    [['https://*'], 'https://anything.at.all', true],
    [['*'], 'https://anything', true],
    [['*'], 'null', true],
    [['https://app.example'], 'null', false],
    [['https://app.example'], 'https://app.example/path', false],
    [[], 'https://app.example', false],
  ];
  for (const [origins, origin, want] of cases)
    it(`${JSON.stringify(origins)} ${want ? 'allows' : 'refuses'} ${origin}`, () => {
      assert.equal(originAllowed(policy({ allowOrigins: origins }), origin), want);
    });
});

describe('CORS preflight answer', () => {
  it('lists what is allowed, with max-age defaulting to 5', () => {
    const p = policy({
      allowOrigins: ['https://app.example'],
      allowMethods: ['GET', 'PUT'],
      allowHeaders: ['X-Token', 'Content-Type'],
    });
    assert.deepEqual(preflightFields(p, 'https://app.example', 'PUT', 'x-token'), {
      'access-control-allow-origin': 'https://app.example',
      vary: 'Origin',
      'access-control-allow-methods': 'GET, PUT',
      'access-control-allow-headers': 'x-token, content-type',
      'access-control-max-age': '5',
    });
    assert.equal(preflightFields(p, 'https://other.example', 'PUT', undefined), undefined);
  });

  it('wildcards answer * without credentials, and echo the request with them', () => {
    const any = {
      allowOrigins: ['*'],
      allowMethods: ['*'],
      allowHeaders: ['*'],
      maxAgeSeconds: 60,
    };
    assert.deepEqual(preflightFields(policy(any), 'https://a.example', 'DELETE', 'x-a, x-b'), {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': '*',
      'access-control-allow-headers': '*',
      'access-control-max-age': '60',
    });
    const creds = policy({ ...any, allowCredentials: true });
    assert.deepEqual(preflightFields(creds, 'https://a.example', 'DELETE', 'x-a, x-b'), {
      'access-control-allow-origin': 'https://a.example',
      vary: 'Origin',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'DELETE',
      'access-control-allow-headers': 'x-a, x-b',
      'access-control-max-age': '60',
    });
    // Nothing asked for: those fields are left out rather than `*`.
    const bare = preflightFields(creds, 'https://a.example', undefined, undefined) ?? {};
    assert.equal(bare['access-control-allow-methods'], undefined);
    assert.equal(bare['access-control-allow-headers'], undefined);
  });

  it('is OPTIONS with Origin and Access-Control-Request-Method', () => {
    assert.equal(isPreflight('OPTIONS', 'https://a', 'GET'), true);
    assert.equal(isPreflight('OPTIONS', 'https://a', undefined), false);
    assert.equal(isPreflight('OPTIONS', undefined, 'GET'), false);
    assert.equal(isPreflight('GET', 'https://a', 'GET'), false);
  });
});

describe('CORS actual responses', () => {
  it('get the origin, credentials and exposed fields', () => {
    const p = policy({
      allowOrigins: ['https://app.example'],
      exposeHeaders: ['X-Total'],
      allowCredentials: true,
    });
    assert.deepEqual(responseFields(p, 'https://app.example'), {
      'access-control-allow-origin': 'https://app.example',
      vary: 'Origin',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'X-Total',
    });
    assert.equal(responseFields(p, 'https://evil.example'), undefined);
    assert.deepEqual(
      responseFields(policy({ allowOrigins: ['*'], exposeHeaders: ['*'] }), 'x://y'),
      {
        'access-control-allow-origin': '*',
        'access-control-expose-headers': '*',
      },
    );
  });
});
