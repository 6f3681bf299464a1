// The ledger guarantee: after the creating process is SIGKILLed, cleanup from
// another process removes every namespace, veth, nft table and process it made.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import {
  cleanupLedger,
  Ledger,
  listNftTables,
  processStartTime,
  run,
} from '../../src/platform/index.js';
import { skipUnlessRoot, TEST_LEDGER_DIR } from '../helpers/netns.js';

const child = new URL('./fixtures/crash-child.ts', import.meta.url).pathname;

interface Made {
  a: string;
  b: string;
  hostVeth: string;
  table: string;
  pid: number;
}

async function netnsNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '');
}

async function hostLinkExists(name: string): Promise<boolean> {
  return run('ip', ['link', 'show', name]).then(
    () => true,
    () => false,
  );
}

test('cleanupLedger removes everything a SIGKILLed process created', async (t) => {
  if (skipUnlessRoot(t)) return;
  const id = `${process.pid.toString(36)}k`;
  const ledgerPath = join(TEST_LEDGER_DIR, `crash-${id}`, 'ledger.json');
  t.after(() => cleanupLedger(ledgerPath)); // backstop if an assertion fails midway

  const proc = spawn(process.execPath, ['--import', 'tsx', child, ledgerPath, id], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`crash-child exited ${code} before reporting`)));
  });
  const made = JSON.parse(line) as Made;
  proc.kill('SIGKILL');
  await once(proc, 'exit');

  // Everything outlived its creator.
  assert.ok((await netnsNames()).includes(made.a));
  assert.ok((await netnsNames()).includes(made.b));
  assert.ok(await hostLinkExists(made.hostVeth));
  assert.ok((await listNftTables(undefined)).some((x) => x.name === made.table));
  assert.ok(processStartTime(made.pid) !== undefined, 'sleep in the netns still runs');
  const kinds = Ledger.open(ledgerPath)
    .entries.map((e) => e.kind)
    .sort();
  assert.deepEqual(kinds, ['netns', 'netns', 'nft-table', 'nft-table', 'pid', 'veth', 'veth']);

  const report = await cleanupLedger(ledgerPath);
  assert.deepEqual(report.failed, []);

  const names = await netnsNames();
  assert.ok(!names.includes(made.a) && !names.includes(made.b), `left: ${names.join(',')}`);
  assert.equal(await hostLinkExists(made.hostVeth), false);
  assert.ok(!(await listNftTables(undefined)).some((x) => x.name === made.table));
  assert.equal(processStartTime(made.pid), undefined);
  assert.equal(existsSync(ledgerPath), false, 'a fully cleaned ledger is removed');

  // Cleanup is idempotent.
  assert.deepEqual(await cleanupLedger(ledgerPath), { removed: [], failed: [] });
});

test('cleanup never kills a recycled PID: the start time must match', async (t) => {
  if (skipUnlessRoot(t)) return;
  const ledger = Ledger.create({ dir: TEST_LEDGER_DIR, runId: `pid-${process.pid.toString(36)}` });
  const sleeper = spawn('sleep', ['600'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  const pid = sleeper.pid as number;
  // Same PID, different start time: as if the recorded process died and the PID was reused.
  ledger.record({ kind: 'pid', pid, startTime: '1', command: 'sleep 600' });
  const report = await cleanupLedger(ledger);
  assert.equal(report.failed.length, 0);
  assert.ok(processStartTime(pid) !== undefined, 'the unrelated process must survive');
});
