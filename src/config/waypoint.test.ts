import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAmbitError } from '../core/errors.js';
import { DEFAULT_DOWNSTREAM_LIMITS } from '../waypoint/downstream.js';
import { parseWaypointConfig, type WaypointFlags } from './waypoint.js';

const base: WaypointFlags = { namespace: 'shop', localConfig: 'wp.yaml' };

describe('waypoint config: downstream limits', () => {
  it('defaults to the documented values', () => {
    assert.deepEqual(parseWaypointConfig({}, base).http, {
      maxHeaderBytes: 16384,
      maxHeaderFields: 100,
      headersTimeoutMs: 10_000,
      idleTimeoutMs: 300_000,
      maxBufferedBodyBytes: 65536,
    });
    assert.deepEqual(parseWaypointConfig({}, base).http, { ...DEFAULT_DOWNSTREAM_LIMITS });
  });

  it('reads env, and flags win over env', () => {
    const env = {
      AMBIT_WAYPOINT_HEADERS_TIMEOUT: '3s',
      AMBIT_WAYPOINT_IDLE_TIMEOUT: '1m',
      AMBIT_WAYPOINT_MAX_HEADER_BYTES: '8192',
      AMBIT_WAYPOINT_MAX_HEADERS: '50',
      AMBIT_WAYPOINT_MAX_BUFFERED_BODY: '0',
    };
    assert.deepEqual(parseWaypointConfig(env, base).http, {
      maxHeaderBytes: 8192,
      maxHeaderFields: 50,
      headersTimeoutMs: 3000,
      idleTimeoutMs: 60_000,
      maxBufferedBodyBytes: 0,
    });
    const flags = {
      ...base,
      headersTimeout: '500ms',
      idleTimeout: '2s',
      maxHeaderBytes: '4096',
      maxHeaders: '10',
      maxBufferedBody: '1024',
    };
    assert.deepEqual(parseWaypointConfig(env, flags).http, {
      maxHeaderBytes: 4096,
      maxHeaderFields: 10,
      headersTimeoutMs: 500,
      idleTimeoutMs: 2000,
      maxBufferedBodyBytes: 1024,
    });
  });

  it('refuses invalid values, naming the flag or variable', () => {
    const table: [Record<string, string>, WaypointFlags, RegExp][] = [
      [{}, { headersTimeout: 'soon' }, /--headers-timeout="soon"/],
      [{}, { idleTimeout: '0s' }, /idle timeout must be greater than 0/],
      [{ AMBIT_WAYPOINT_HEADERS_TIMEOUT: 'x' }, {}, /AMBIT_WAYPOINT_HEADERS_TIMEOUT="x"/],
      [{}, { maxHeaders: '0' }, /--max-headers="0".*1\.\.10000/],
      [{}, { maxHeaderBytes: '100' }, /--max-header-bytes="100"/],
      [{ AMBIT_WAYPOINT_MAX_HEADERS: '-1' }, {}, /AMBIT_WAYPOINT_MAX_HEADERS="-1"/],
      [{}, { maxBufferedBody: '1e3' }, /--max-buffered-body="1e3"/],
    ];
    for (const [env, flags, want] of table) {
      assert.throws(
        () => parseWaypointConfig(env, { ...base, ...flags }),
        (err: unknown) => isAmbitError(err, 'AMBIT_CONFIG_INVALID') && want.test(err.message),
        `${JSON.stringify({ env, flags })}`,
      );
    }
  });
});
