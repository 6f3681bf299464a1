import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { readBody } from './body.js';

describe('readBody', () => {
  it('buffers a body up to the limit whole', async () => {
    const s = new PassThrough();
    const p = readBody(s, 10);
    s.end(Buffer.from('0123456789'));
    assert.deepEqual(await p, Buffer.from('0123456789'));
  });

  it('hands a body over the limit on as head + rest, unread', async () => {
    const s = new PassThrough();
    const p = readBody(s, 4);
    s.write(Buffer.from('012'));
    s.write(Buffer.from('345'));
    const b = await p;
    assert.ok(!Buffer.isBuffer(b));
    assert.equal(Buffer.concat(b.head).toString(), '012345');
    s.end(Buffer.from('6'));
    const rest: Buffer[] = [];
    for await (const c of b.rest) rest.push(c as Buffer);
    assert.equal(Buffer.concat(rest).toString(), '6');
  });

  it('fails when the client goes away before the body ended (no error event)', async () => {
    const s = new PassThrough();
    const p = readBody(s, 1024);
    s.write(Buffer.from('partial'));
    // What a reset HTTP/2 stream or a closed connection does: close without 'error'.
    s.destroy();
    await assert.rejects(p, /closed the request before its body ended/);
  });
});
