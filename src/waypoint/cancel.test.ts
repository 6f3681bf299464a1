import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Cancel, dialSignal } from './cancel.js';

describe('Cancel', () => {
  it('calls each listener once, in order, and only those still registered', () => {
    const c = new Cancel();
    const calls: string[] = [];
    const a = () => calls.push('a');
    const b = () => calls.push('b');
    c.addEventListener('abort', a);
    c.addEventListener('abort', b);
    c.removeEventListener('abort', a);
    c.abort('why');
    c.abort('again');
    assert.deepEqual(calls, ['b']);
    assert.equal(c.aborted, true);
    assert.equal(c.reason, 'why');
  });

  it('ignores listeners added after the abort (callers check `aborted` first)', () => {
    const c = new Cancel();
    c.abort();
    let called = false;
    c.addEventListener('abort', () => {
      called = true;
    });
    assert.equal(called, false);
    assert.ok(c.reason instanceof Error);
  });
});

describe('dialSignal', () => {
  it('aborts when the attempt is cancelled', () => {
    const c = new Cancel();
    const s = dialSignal(c, 60_000);
    assert.equal(s.aborted, false);
    c.abort('client gone');
    assert.equal(s.aborted, true);
    assert.equal(s.reason, 'client gone');
  });

  it('is aborted already for a cancelled attempt, and for an aborted AbortSignal', () => {
    const c = new Cancel();
    c.abort();
    assert.equal(dialSignal(c, 60_000).aborted, true);
    assert.equal(dialSignal(AbortSignal.abort(), 60_000).aborted, true);
  });

  it('aborts at the connect timeout when nothing else does', async () => {
    for (const s of [dialSignal(undefined, 20), dialSignal(new Cancel(), 20)]) {
      await new Promise((r) => setTimeout(r, 60));
      assert.equal(s.aborted, true);
      assert.equal((s.reason as Error).name, 'TimeoutError');
    }
  });
});
