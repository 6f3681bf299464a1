import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Ledger } from '../platform/index.js';
import { NodeAgent } from './agent.js';
import type { WorkloadRequest } from './zds.js';
import { decodeRequest, frame, MAX_FRAME_BYTES, readFrames } from './zds.js';
import { ZdsClient } from './zds-client.js';

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function closedBy(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => socket.once('close', () => resolve()));
}

test('readFrames splits, reassembles and rejects oversize or undecodable frames', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zds-'));
  const path = join(dir, 's');
  const got: unknown[] = [];
  const errors: string[] = [];
  const server = net.createServer((s) => {
    readFrames(
      s,
      decodeRequest,
      (m) => got.push(m.payload.case),
      (e) => errors.push(e.code),
    );
  });
  await new Promise<void>((r) => server.listen(path, r));
  try {
    const c = net.connect(path);
    await new Promise((r) => c.once('connect', r));
    // snapshot_sent (field 3, empty message) split across two writes
    const f = frame(Uint8Array.from([0x1a, 0x00]));
    c.write(f.subarray(0, 3));
    await new Promise((r) => setTimeout(r, 30));
    c.write(f.subarray(3));
    await until(() => got.length === 1);
    assert.deepEqual(got, ['snapshotSent']);
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_FRAME_BYTES + 1);
    c.write(big);
    await until(() => errors.length === 1);
    assert.deepEqual(errors, ['AMBIT_INPOD_ZDS_MALFORMED']);
    c.destroy();
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('node agent: 0600 socket, garbage resets only that connection, a client gets the snapshot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'zds-'));
  const ledger = Ledger.create({ dir: join(dir, 'ledger') });
  const socketPath = join(dir, 'sub', 'ztunnel.sock');
  const agent = new NodeAgent({ socketPath, ledger });
  await agent.start();
  const seen: WorkloadRequest['payload']['case'][] = [];
  const client = new ZdsClient(socketPath, {
    handle: async (req) => {
      seen.push(req.payload.case);
    },
  });
  try {
    assert.equal(statSync(socketPath).mode & 0o777, 0o600);
    // Oversize length prefix.
    const g1 = net.connect(socketPath);
    g1.on('error', () => {});
    g1.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await closedBy(g1);
    // A frame that is not a ZdsHello (invalid protobuf: truncated varint).
    const g2 = net.connect(socketPath);
    g2.on('error', () => {});
    g2.write(frame(Uint8Array.from([0x08, 0xff])));
    await closedBy(g2);
    assert.equal(agent.ztunnelConnected, false);
    client.start();
    await until(() => agent.ztunnelConnected);
    assert.deepEqual(seen, ['snapshotSent']);
    // A newer connection replaces the old one (a restarted ztunnel); the old
    // client reconnects with backoff and receives the snapshot again.
    const g3 = net.connect(socketPath);
    g3.on('error', () => {});
    g3.write(Buffer.from([0, 0, 0, 0])); // an empty ZdsHello
    await until(() => !client.connected || seen.length > 1);
    g3.destroy();
    await until(() => seen.filter((c) => c === 'snapshotSent').length === 2);
    await until(() => agent.ztunnelConnected);
    assert.deepEqual(agent.enrolled(), []);
  } finally {
    client.close();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
