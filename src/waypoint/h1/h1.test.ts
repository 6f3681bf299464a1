import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BodyFramingError, bodyDecoder, encodeChunk } from './body.js';
import { type Framing, parseRequestHead, parseResponseHead } from './parse.js';
import { fieldLines, HeaderValueError } from './serialize.js';

const req = (s: string) => parseRequestHead(Buffer.from(s, 'latin1'));
const res = (s: string) => parseResponseHead(Buffer.from(s, 'latin1'));

describe('HTTP/1.1 request heads', () => {
  const ok: [
    string,
    string,
    Partial<{ method: string; target: string; framing: Framing; close: boolean }>,
  ][] = [
    [
      'simple GET',
      'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
      { method: 'GET', target: '/', close: false },
    ],
    [
      'leading empty line ignored (RFC 9112 §2.2)',
      '\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n',
      { target: '/x' },
    ],
    [
      'content-length',
      'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n',
      { framing: { kind: 'length', length: 5 } },
    ],
    [
      'repeated equal content-length',
      'POST / HTTP/1.1\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n',
      { framing: { kind: 'length', length: 5 } },
    ],
    [
      'content-length 0 is no body',
      'POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n',
      { framing: { kind: 'none' } },
    ],
    [
      'chunked',
      'POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n',
      { framing: { kind: 'chunked' } },
    ],
    ['HTTP/1.0 closes by default', 'GET / HTTP/1.0\r\n\r\n', { close: true }],
    ['HTTP/1.0 keep-alive', 'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n', { close: false }],
    ['Connection: close', 'GET / HTTP/1.1\r\nConnection: foo, close\r\n\r\n', { close: true }],
    ['absolute-form target', 'GET http://a/b?c HTTP/1.1\r\n\r\n', { target: 'http://a/b?c' }],
  ];
  for (const [name, input, want] of ok) {
    it(name, () => {
      const r = req(input);
      assert.ok(r && !r.error, JSON.stringify(r));
      for (const [k, v] of Object.entries(want))
        assert.deepEqual((r.head as unknown as Record<string, unknown>)[k], v, k);
      assert.equal(r.length, Buffer.byteLength(input, 'latin1'));
    });
  }

  it('lowercases names, trims values, keeps order and duplicates', () => {
    const r = req(
      'GET / HTTP/1.1\r\nX-A:  1 \r\nx-a: 2\r\nAccept:\t*/*\r\nX-B: \t3\r\nX-C: 4\t\r\nX-D: \r\nX-E:5\r\nX-F:\r\n\r\n',
    );
    assert.ok(r && !r.error);
    assert.deepEqual(r.head.headers, [
      ...['x-a', '1', 'x-a', '2', 'accept', '*/*', 'x-b', '3', 'x-c', '4'],
      ...['x-d', '', 'x-e', '5', 'x-f', ''],
    ]);
    // An obs-text NBSP is part of the value, not OWS.
    const nb = req('GET / HTTP/1.1\r\nX: \xa0a\xa0\r\n\r\n');
    assert.ok(nb && !nb.error);
    assert.deepEqual(nb.head.headers, ['x', '\xa0a\xa0']);
  });

  it('an upgrade needs the Connection token and no body', () => {
    const up = (h: string) => {
      const r = req(`GET /ws HTTP/1.1\r\nHost: a\r\n${h}\r\n`);
      assert.ok(r && !r.error, JSON.stringify(r));
      return r.head.upgrade;
    };
    assert.equal(up('Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n'), 'websocket');
    assert.equal(up('Upgrade: websocket\r\n'), undefined, 'Upgrade alone is not an offer');
    assert.equal(up('Connection: upgrade\r\n'), undefined);
    assert.equal(
      up('Connection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n'),
      undefined,
      'a request with a body does not switch',
    );
  });

  it('drops the fields Connection names, but never framing or host', () => {
    const r = req(
      'POST / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Secret, content-length, host, ,bad token\r\n' +
        'X-Secret: 1\r\nX-Kept: 2\r\nx-secret: 3\r\nContent-Length: 2\r\n\r\nhi',
    );
    assert.ok(r && !r.error, JSON.stringify(r));
    assert.deepEqual(r.head.headers, [
      ...['host', 'a', 'connection', 'keep-alive, X-Secret, content-length, host, ,bad token'],
      ...['x-kept', '2', 'content-length', '2'],
    ]);
    assert.deepEqual(r.head.framing, { kind: 'length', length: 2 });
    const s = res('HTTP/1.1 200 OK\r\nConnection: x-up\r\nX-Up: 1\r\nContent-Length: 0\r\n\r\n');
    assert.ok(s && !s.error);
    assert.deepEqual(s.head.headers, ['connection', 'x-up', 'content-length', '0']);
    // The usual lone option keeps the parsed list itself.
    const k = req('GET / HTTP/1.1\r\nConnection: Keep-Alive\r\nX: 1\r\n\r\n');
    assert.ok(k && !k.error);
    assert.deepEqual(k.head.headers, ['connection', 'Keep-Alive', 'x', '1']);
  });

  it('needs more bytes until the blank line', () => {
    assert.equal(req('GET / HTTP/1.1\r\nHost: a\r\n'), undefined);
    assert.equal(req('GET / HT'), undefined);
    assert.equal(req('\r\nPROPFI'), undefined);
    assert.equal(req('\r'), undefined);
  });

  const bad: [string, string, number][] = [
    [
      'CL with TE (smuggling)',
      'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      400,
    ],
    ['conflicting CL', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 400],
    ['CL list that disagrees', 'POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n', 400],
    ['non-digit CL', 'POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n', 400],
    ['hex CL', 'POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\n', 400],
    ['TE other than chunked', 'POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501],
    [
      'TE with chunked not final (RFC 9112 §6.3)',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
      400,
    ],
    ['bytes that are not HTTP, before any line end', '\x16\x03\x01\x00\xff', 400],
    ['a method longer than any real one', `${'A'.repeat(40)}`, 400],
    ['TE in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', 400],
    ['obs-fold', 'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n', 400],
    ['bare LF line end', 'GET / HTTP/1.1\nHost: a\n\n', 400],
    ['bare CR in a value', 'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n', 400],
    ['NUL in a value', 'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n', 400],
    ['DEL in the last value', 'GET / HTTP/1.1\r\nA: 1\r\nX: a\x7fb\r\n\r\n', 400],
    ['vertical tab in a value', 'GET / HTTP/1.1\r\nX: a\x0bb\r\nB: 2\r\n\r\n', 400],
    // Only SP and HTAB are OWS: other whitespace is not trimmed away but refused.
    ['vertical tab before a value', 'GET / HTTP/1.1\r\nX: \x0bab\r\n\r\n', 400],
    ['form feed after a value', 'GET / HTTP/1.1\r\nX: ab\x0c\r\n\r\n', 400],
    ['invalid name char', 'GET / HTTP/1.1\r\nX(y): a\r\n\r\n', 400],
    ['no colon', 'GET / HTTP/1.1\r\nHost\r\n\r\n', 400],
    ['bad method', 'G\x01T / HTTP/1.1\r\n\r\n', 400],
    ['space in target', 'GET /a b HTTP/1.1\r\n\r\n', 400],
    ['empty target', 'GET  HTTP/1.1\r\n\r\n', 400],
    ['control character in the target', 'GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n', 400],
    ['DEL in the target', 'GET /a\x7f HTTP/1.1\r\n\r\n', 400],
    ['bad method after a good one was seen', 'GE(T / HTTP/1.1\r\n\r\n', 400],
    ['missing version', 'GET /\r\n\r\n', 400],
    ['garbage version', 'GET / HTTX/1.1\r\n\r\n', 400],
    ['HTTP/2.0 over HTTP/1 framing', 'GET / HTTP/2.0\r\n\r\n', 505],
  ];
  for (const [name, input, status] of bad) {
    it(`rejects: ${name} → ${status}`, () => {
      const r = req(input);
      assert.ok(r?.error, JSON.stringify(r));
      assert.equal(r.status, status);
    });
  }

  it('431 for a head over the limit, complete or not, and for too many fields', () => {
    const big = `GET / HTTP/1.1\r\nX: ${'a'.repeat(20000)}`;
    let r = parseRequestHead(Buffer.from(big));
    assert.ok(r?.error);
    assert.equal(r.status, 431);
    r = parseRequestHead(Buffer.from(`${big}\r\n\r\n`));
    assert.equal(r?.error && r.status, 431);
    const many = `GET / HTTP/1.1\r\n${'X: 1\r\n'.repeat(101)}\r\n`;
    r = parseRequestHead(Buffer.from(many));
    assert.equal(r?.error && r.status, 431);
  });
});

describe('HTTP/1.1 response heads', () => {
  it('framing: length, chunked, until close; close flag', () => {
    let r = res('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n');
    assert.ok(r && !r.error);
    assert.deepEqual(r.head.framing, { kind: 'length', length: 3 });
    assert.equal(r.head.status, 200);
    assert.equal(r.head.close, false);
    r = res('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.ok(r && !r.error);
    assert.deepEqual(r.head.framing, { kind: 'chunked' });
    r = res('HTTP/1.1 200 OK\r\n\r\n');
    assert.ok(r && !r.error);
    assert.deepEqual(r.head.framing, { kind: 'close' });
    assert.equal(r.head.close, true);
    r = res('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n');
    assert.ok(r && !r.error);
    assert.equal(r.head.close, true);
    r = res('HTTP/1.1 204\r\n\r\n');
    assert.ok(r && !r.error);
    assert.equal(r.head.status, 204);
    r = res('HTTP/1.1 999 Custom\r\n\r\n');
    assert.ok(r && !r.error);
    assert.equal(r.head.status, 999);
    assert.equal(r.head.reason, 'Custom');
  });

  for (const [name, input] of [
    ['CL with TE', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['bad status code', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['status code below 100', 'HTTP/1.1 099 Odd\r\n\r\n'],
    ['status code with a letter', 'HTTP/1.1 2x0 OK\r\n\r\n'],
    ['status code cut short', 'HTTP/1.1 20\r\n\r\n'],
    ['no status code', 'HTTP/1.1\r\n\r\n'],
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['header without colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n'],
    ['control character in the reason', 'HTTP/1.1 200 O\x01K\r\nA: b\r\n\r\n'],
    ['control character in a value', 'HTTP/1.1 200 OK\r\nA: b\x1bc\r\n\r\n'],
  ]) {
    it(`rejects: ${name}`, () => {
      const r = res(input as string);
      assert.ok(r?.error, JSON.stringify(r));
    });
  }
});

function decodeAll(
  framing: Framing,
  pieces: string[],
): { data: string; end: number; rest: string } {
  const d = bodyDecoder(framing);
  let data = '';
  for (let i = 0; i < pieces.length; i++) {
    const chunk = Buffer.from(pieces[i] as string, 'latin1');
    const end = d.feed(chunk, 0, (b) => {
      data += b.toString('latin1');
    });
    if (end >= 0) return { data, end, rest: chunk.subarray(end).toString('latin1') };
  }
  return { data, end: -1, rest: '' };
}

describe('HTTP/1.1 header serialisation', () => {
  const skip = new Set(['connection']);
  it('writes fields in order, lists as repeated fields, skipping the caller-owned ones', () => {
    assert.equal(
      fieldLines({ a: '1', connection: 'close', 'set-cookie': ['x=1', 'y=2'], n: 5 }, skip),
      'a: 1\r\nset-cookie: x=1\r\nset-cookie: y=2\r\nn: 5\r\n',
    );
    assert.equal(fieldLines({}, skip), '');
    assert.equal(
      fieldLines({ tab: 'a\tb', latin1: 'caf\u00e9' }, skip),
      'tab: a\tb\r\nlatin1: caf\u00e9\r\n',
    );
  });

  // A value that could end its line would let config or an upstream write
  // fields (or a whole message) of its own: response splitting, smuggling.
  const bad: [string, Record<string, string | string[]>, RegExp][] = [
    ['CRLF injection', { ok: 'x', evil: 'a\r\nx-injected: 1' }, /header evil/],
    ['bare LF', { evil: 'a\nb' }, /header evil/],
    ['bare CR', { evil: 'a\rb' }, /header evil/],
    ['NUL', { evil: 'a\u0000b' }, /header evil/],
    ['DEL', { evil: 'a\u007fb' }, /header evil/],
    ['beyond latin1', { evil: 'a\u0100b' }, /header evil/],
    ['CRLF in one list item', { ok: 'x', evil: ['fine', 'a\r\nb'] }, /header evil/],
    ['name with a space', { 'bad name': 'x' }, /invalid header name/],
    ['name with a colon', { 'x:y': 'x' }, /invalid header name/],
  ];
  for (const [name, headers, message] of bad) {
    it(`refuses ${name}`, () => {
      assert.throws(
        () => fieldLines(headers, skip),
        (err: unknown) => err instanceof HeaderValueError && message.test(err.message),
      );
    });
  }
});

describe('HTTP/1.1 body framing', () => {
  it('length: stops at the length and leaves the next message', () => {
    const r = decodeAll({ kind: 'length', length: 5 }, ['he', 'lloGET /']);
    assert.deepEqual(r, { data: 'hello', end: 3, rest: 'GET /' });
  });

  it('chunked: sizes in hex, extensions, trailers dropped, split anywhere', () => {
    const wire = '5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nNEXT';
    for (let cut = 1; cut < wire.length; cut++) {
      const r = decodeAll({ kind: 'chunked' }, [wire.slice(0, cut), wire.slice(cut)]);
      assert.equal(r.data, 'hello0123456789', `cut at ${cut}`);
      // The body ends in the first piece when the cut is at or past its end.
      const end = wire.length - 4;
      assert.equal(r.rest, cut < end ? 'NEXT' : wire.slice(end, cut), `cut at ${cut}`);
    }
  });

  for (const [name, wire] of [
    ['non-hex size', 'zz\r\n'],
    ['missing CRLF after data', '3\r\nabcX\r\n'],
    ['bare LF after size', '3\nabc\r\n'],
    ['size too large', 'fffffffffffffff\r\n'],
    ['control char in extension', '3;\x01\r\n'],
  ]) {
    it(`chunked rejects: ${name}`, () => {
      assert.throws(() => decodeAll({ kind: 'chunked' }, [wire as string]), BodyFramingError);
    });
  }

  it('chunked: a size line longer than 4 KiB is refused', () => {
    assert.throws(
      () => decodeAll({ kind: 'chunked' }, [`1;${'x'.repeat(5000)}`]),
      BodyFramingError,
    );
  });

  it('until close: everything is body', () => {
    const d = bodyDecoder({ kind: 'close' });
    let n = 0;
    assert.equal(
      d.feed(Buffer.from('abc'), 1, (b) => (n += b.length)),
      -1,
    );
    assert.equal(n, 2);
    assert.equal(d.endsAtClose, true);
  });

  it('encodeChunk round-trips through the decoder', () => {
    const payload = Buffer.alloc(70000, 7);
    const wire = Buffer.concat([encodeChunk(payload), Buffer.from('0\r\n\r\n')]);
    const d = bodyDecoder({ kind: 'chunked' });
    let n = 0;
    assert.equal(
      d.feed(wire, 0, (b) => (n += b.length)),
      wire.length,
    );
    assert.equal(n, 70000);
  });
});
