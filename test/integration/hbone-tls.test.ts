/**
 * HBONE identity and TLS: certificate chosen by destination IP, SPIFFE checks
 * on both sides, and a server that survives garbage on its port.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { type AmbitError, isAmbitError } from '../../src/core/errors.js';
import { SpiffeId } from '../../src/identity/index.js';
import {
  type HboneCredentials,
  HboneErrors,
  type HboneSession,
  hboneCredentials,
  openSession,
} from '../../src/proxy/hbone/index.js';
import { TlsErrors, WorkloadCertificate } from '../../src/tls/index.js';
import { makeCa, makeLeaf, workloadCredentials } from '../helpers/certs.js';
import {
  type HboneFixture,
  type Listening,
  readAll,
  startEcho,
  startHbone,
  until,
} from '../helpers/hbone.js';

const POD_A = '127.0.0.2';
const POD_B = '127.0.0.3';
const POD_NO_CERT = '127.0.0.4';

describe('HBONE identity and TLS', () => {
  const ca = makeCa();
  const rogueCa = makeCa('rogue root');
  const client = workloadCredentials(ca, 'default', 'client');
  const serverA = workloadCredentials(ca, 'ns-a', 'server-a');
  const serverB = workloadCredentials(ca, 'ns-b', 'server-b');
  let fx: HboneFixture;
  let echoA: Listening;
  let echoB: Listening;
  const sessions: HboneSession[] = [];

  const portOf = (ip: string): number => {
    const l = fx.listeners.get(ip);
    assert.ok(l);
    return l.port;
  };
  const open = async (
    ip: string,
    creds: HboneCredentials,
    expected: SpiffeId[],
  ): Promise<HboneSession> => {
    const s = await openSession({
      address: { host: ip, port: portOf(ip) },
      credentials: creds,
      expectedIdentities: expected,
      connectTimeoutMs: 5000,
    });
    sessions.push(s);
    return s;
  };
  const openError = async (
    ip: string,
    creds: HboneCredentials,
    expected: SpiffeId[],
  ): Promise<AmbitError> => {
    try {
      await open(ip, creds, expected);
    } catch (err) {
      assert.ok(isAmbitError(err), String(err));
      return err;
    }
    assert.fail('session unexpectedly established');
  };
  const echoOnce = async (s: HboneSession, ip: string, port: number): Promise<string> => {
    const t = await s.connect({ authority: `${ip}:${port}` });
    t.end('ping');
    return readAll(t);
  };

  before(async () => {
    echoA = await startEcho(POD_A);
    echoB = await startEcho(POD_B);
    fx = await startHbone(
      new Map([
        [POD_A, serverA],
        [POD_B, serverB],
      ]),
      {},
      [POD_NO_CERT],
    );
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    await fx?.close();
    await echoA?.close();
    await echoB?.close();
  });

  test('the server certificate is chosen by the destination IP (no SNI)', async () => {
    const a = await open(POD_A, client, [serverA.identity]);
    const b = await open(POD_B, client, [serverB.identity]);
    assert.equal(a.peerIdentity.uri, 'spiffe://cluster.local/ns/ns-a/sa/server-a');
    assert.equal(b.peerIdentity.uri, 'spiffe://cluster.local/ns/ns-b/sa/server-b');
    assert.equal(await echoOnce(a, POD_A, echoA.port), 'pingEOF');
    assert.equal(await echoOnce(b, POD_B, echoB.port), 'pingEOF');
  });

  test('credentials from a validated WorkloadCertificate (src/tls) work as-is', async () => {
    const wc = WorkloadCertificate.create({
      chainPem: client.certChainPem,
      keyPem: client.keyPem,
      roots: ca.certPem,
      expectedIdentity: client.identity,
    });
    const s = await open(POD_A, hboneCredentials(wc), [serverA.identity]);
    assert.equal(await echoOnce(s, POD_A, echoA.port), 'pingEOF');
  });

  test('server identity not in the expected set → client refuses', async () => {
    const err = await openError(POD_B, client, [serverA.identity]);
    assert.equal(err.code, TlsErrors.PEER_IDENTITY_MISMATCH);
    assert.match(err.message, /server-b is not one of the expected/);
  });

  test('any of several expected identities is accepted (Service SANs)', async () => {
    const s = await open(POD_A, client, [serverB.identity, serverA.identity]);
    assert.equal(s.peerIdentity.uri, serverA.identity.uri);
  });

  test('no certificate for the destination IP → connection closed', async () => {
    const before = fx.hbone.stats().noCertificate;
    const err = await openError(POD_NO_CERT, client, [serverA.identity]);
    assert.equal(err.code, HboneErrors.TLS_HANDSHAKE, err.message);
    assert.equal(fx.hbone.stats().noCertificate, before + 1);
  });

  test('TLS without a client certificate is rejected', async () => {
    const before = fx.hbone.stats().tlsFailures;
    const outcome = await rawHandshake(POD_A, portOf(POD_A), { ca: [ca.certPem] });
    assert.notEqual(outcome, 'ok');
    await until(() => fx.hbone.stats().tlsFailures > before, 'server-side TLS failure');
  });

  test('a client certificate from another root is rejected', async () => {
    const rogue = workloadCredentials(rogueCa, 'default', 'client');
    const before = fx.hbone.stats().tlsFailures;
    // The rogue client trusts our real root, so only the server's check can stop it.
    const err = await openError(POD_A, { ...rogue, rootsPem: [ca.certPem] }, [serverA.identity]);
    assert.equal(err.code, HboneErrors.TLS_HANDSHAKE, err.message);
    await until(() => fx.hbone.stats().tlsFailures > before, 'server-side TLS failure');
  });

  test('a client certificate from another trust domain is rejected', async () => {
    const foreign = workloadCredentials(ca, 'default', 'client', 'other.domain');
    const before = fx.hbone.stats().identityFailures;
    const err = await openError(POD_A, foreign, [serverA.identity]);
    assert.equal(err.code, HboneErrors.TLS_HANDSHAKE, err.message);
    assert.equal(fx.hbone.stats().identityFailures, before + 1);
  });

  test('a client certificate with two URI SANs is rejected', async () => {
    const leaf = makeLeaf(ca, {
      uris: ['spiffe://cluster.local/ns/default/sa/a', 'spiffe://cluster.local/ns/default/sa/b'],
    });
    const creds: HboneCredentials = {
      certChainPem: leaf.certPem,
      keyPem: leaf.keyPem,
      rootsPem: [ca.certPem],
      identity: SpiffeId.parse('spiffe://cluster.local/ns/default/sa/a'),
    };
    const before = fx.hbone.stats().identityFailures;
    await openError(POD_A, creds, [serverA.identity]);
    assert.equal(fx.hbone.stats().identityFailures, before + 1);
  });

  test('a server certificate from another root is refused by the client', async () => {
    const rogueServer = workloadCredentials(rogueCa, 'ns-a', 'server-a');
    const rogueFx = await startHbone(new Map([['127.0.0.5', rogueServer]]));
    try {
      const err = await openSession({
        address: { host: '127.0.0.5', port: rogueFx.listeners.get('127.0.0.5')?.port ?? 0 },
        credentials: client,
        expectedIdentities: [serverA.identity],
      }).then(
        () => assert.fail('connected to an untrusted server'),
        (e: unknown) => e,
      );
      assert.ok(isAmbitError(err, HboneErrors.TLS_HANDSHAKE), String(err));
    } finally {
      await rogueFx.close();
    }
  });

  test('a client that never starts TLS is dropped at the handshake deadline', async () => {
    const slow = await startHbone(new Map([['127.0.0.8', serverA]]), { handshakeTimeoutMs: 100 });
    try {
      const s = net.connect({
        host: '127.0.0.8',
        port: slow.listeners.get('127.0.0.8')?.port ?? 0,
      });
      s.on('error', () => {});
      s.resume();
      await once(s, 'close');
      assert.equal(slow.hbone.stats().tlsFailures, 1);
    } finally {
      await slow.close();
    }
  });

  test('garbage and plaintext HTTP on the HBONE port: server survives, other sessions unaffected', async () => {
    const live = await open(POD_A, client, [serverA.identity]);
    const tunnel = await live.connect({ authority: `${POD_A}:${echoA.port}` });
    tunnel.write('before ');
    const before = fx.hbone.stats().tlsFailures;
    for (const payload of [
      Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff, 0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3]),
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
    ]) {
      const s = net.connect({ host: POD_A, port: portOf(POD_A) });
      s.on('error', () => {});
      s.end(payload);
      s.resume();
      await once(s, 'close');
    }
    await until(() => fx.hbone.stats().tlsFailures >= before + 3, 'three TLS failures');
    tunnel.end('after');
    assert.equal(await readAll(tunnel), 'before afterEOF');
    assert.equal(live.usable, true);
    const fresh = await open(POD_A, client, [serverA.identity]);
    assert.equal(await echoOnce(fresh, POD_A, echoA.port), 'pingEOF');
  });
});

/** TLS + HTTP/2 up to the server's SETTINGS, with arbitrary TLS options. */
async function rawHandshake(
  host: string,
  port: number,
  options: tls.ConnectionOptions,
): Promise<'ok' | Error> {
  const socket = tls.connect({
    host,
    port,
    servername: '',
    ALPNProtocols: ['h2'],
    checkServerIdentity: () => undefined,
    ...options,
  });
  const session = http2.connect(`https://${host}:${port}`, { createConnection: () => socket });
  try {
    return await new Promise<'ok' | Error>((resolve) => {
      session.once('remoteSettings', () => resolve('ok'));
      // A TLS alert surfaces on the socket, not on the session.
      socket.once('error', (e) => resolve(e));
      session.once('error', (e) => resolve(e));
      session.once('close', () => resolve(new Error('closed')));
    });
  } finally {
    session.destroy();
  }
}
