import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { CoreErrors, isAmbitError } from '../core/index.js';
import { PlatformErrors } from './errors.js';
import { connectFrom, fdOf, listenIn, originalDst, platform } from './index.js';

const isRoot = process.getuid?.() === 0;

async function echoServer(t: { after(fn: () => void): void }): Promise<net.Server> {
  const server = await listenIn(null, { address: '127.0.0.1', port: 0 });
  server.on('connection', (s) => s.pipe(s));
  t.after(() => server.close());
  return server;
}

function portOf(server: net.Server): number {
  return (server.address() as net.AddressInfo).port;
}

test('listenIn(null) serves connections on a natively created listener', async (t) => {
  const server = await echoServer(t);
  const client = net.connect(portOf(server), '127.0.0.1');
  t.after(() => client.destroy());
  await once(client, 'connect');
  client.write('ping');
  const [data] = await once(client, 'data');
  assert.equal(String(data), 'ping');
});

test('connectFrom sets SO_MARK before connecting and data flows', async (t) => {
  if (!isRoot) return t.skip('SO_MARK needs root');
  const server = await echoServer(t);
  const s = connectFrom({ host: '127.0.0.1', port: portOf(server), mark: 0x539 });
  t.after(() => s.destroy());
  await once(s, 'connect');
  assert.equal(platform().getMark(fdOf(s)), 0x539);
  s.write('hello');
  const [data] = await once(s, 'data');
  assert.equal(String(data), 'hello');
});

test('setMark/getMark, setTransparent/getTransparent round-trip on an fd', async (t) => {
  if (!isRoot) return t.skip('needs root');
  const server = await echoServer(t);
  const fd = fdOf(server);
  platform().setMark(fd, 0x111);
  assert.equal(platform().getMark(fd), 0x111);
  assert.equal(platform().getTransparent(fd), false);
  platform().setTransparent(fd, true);
  assert.equal(platform().getTransparent(fd), true);
  platform().setFreebind(fd, true);
  platform().setReusePort(fd, true);
});

test('originalDst is undefined for a connection that was not redirected', async (t) => {
  const server = await echoServer(t);
  const accepted = once(server, 'connection');
  const client = net.connect(portOf(server), '127.0.0.1');
  t.after(() => client.destroy());
  const [sock] = (await accepted) as [net.Socket];
  assert.equal(originalDst(sock), undefined);
});

test('errors name the errno and the call', (t) => {
  const notSocket = openSync('/dev/null', 'r');
  t.after(() => closeSync(notSocket));
  assert.throws(
    () => platform().getOriginalDst(notSocket),
    (err) =>
      isAmbitError(err, PlatformErrors.SOCKET_FAILED) &&
      err.details.errno === 'ENOTSOCK' &&
      /SO_DOMAIN|SO_ORIGINAL_DST/.test(err.message),
  );
  assert.throws(
    () => platform().socketInNetns('/nonexistent/netns', 4),
    (err) =>
      isAmbitError(err, PlatformErrors.SOCKET_FAILED) &&
      err.details.errno === 'ENOENT' &&
      err.message.includes('/nonexistent/netns'),
  );
  assert.throws(
    () => platform().listenInNetns(null, { address: 'not-an-ip' }),
    /not an IPv4 literal/,
  );
});

test('listening on a port in use fails with EADDRINUSE and names the address', async (t) => {
  const server = await echoServer(t);
  assert.throws(
    () => platform().listenInNetns(null, { address: '127.0.0.1', port: portOf(server) }),
    (err) =>
      isAmbitError(err, PlatformErrors.SOCKET_FAILED) &&
      err.details.errno === 'EADDRINUSE' &&
      err.message.includes('127.0.0.1'),
  );
});

test('SO_MARK without privileges maps to AMBIT_NOT_ROOT', (t) => {
  if (isRoot) return t.skip('only meaningful without root');
  const fd = platform().socketInNetns(null, 4);
  assert.throws(
    () => platform().setMark(fd, 1),
    (e) => isAmbitError(e, CoreErrors.NOT_ROOT),
  );
});

test('fdOf throws AMBIT_PLATFORM_NO_FD for a socket without a handle', () => {
  assert.throws(
    () => fdOf(new net.Socket()),
    (e) => isAmbitError(e, PlatformErrors.NO_FD),
  );
});
