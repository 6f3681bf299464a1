// The runtime floor for HBONE in Node: a bare HTTP/2 CONNECT pair over TLS 1.3
// mTLS with ztunnel's windows, relaying with 'data'/write and nothing else (no
// policy, metrics, pooling logic or logs). bench/ztunnel.ts runs it beside the
// real ztunnels so their CPU per request can be read against what Node itself
// costs for the same work.
//   node node-h2-pair.mjs client <listenHost:port> <serverHost:port> <certDir>
//   node node-h2-pair.mjs server <listenHost:port> <appHost:port> <certDir>
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';

const [role, listen, target, dir] = process.argv.slice(2);
const [lh, lp] = listen.split(':');
const [th, tp] = target.split(':');
const creds = {
  cert: readFileSync(`${dir}/cert-chain.pem`),
  key: readFileSync(`${dir}/key.pem`),
  ca: readFileSync(`${dir}/root-cert.pem`),
  minVersion: 'TLSv1.3',
  ALPNProtocols: ['h2'],
};
const settings = { initialWindowSize: 4 << 20, maxFrameSize: 1 << 20, enablePush: false };

function relay(a, b) {
  a.on('data', (c) => {
    if (!b.write(c)) {
      a.pause();
      b.once('drain', () => a.resume());
    }
  });
  b.on('data', (c) => {
    if (!a.write(c)) {
      b.pause();
      a.once('drain', () => b.resume());
    }
  });
  a.on('end', () => b.end());
  b.on('end', () => a.end());
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

if (role === 'client') {
  let session;
  const get = () => {
    if (session && !session.destroyed && !session.closed) return session;
    session = http2.connect(`https://${target}`, {
      settings,
      createConnection: () => {
        const s = tls.connect({
          host: th,
          port: Number(tp),
          ...creds,
          servername: '',
          checkServerIdentity: () => undefined,
        });
        s.setNoDelay(true);
        return s;
      },
    });
    session.on('connect', () => session.setLocalWindowSize(16 << 20));
    session.on('error', () => {});
    return session;
  };
  net
    .createServer({ noDelay: true }, (s) => {
      const st = get().request({ ':method': 'CONNECT', ':authority': `${th}:8081` });
      relay(s, st);
    })
    .listen(Number(lp), lh);
} else {
  const server = http2.createSecureServer({
    ...creds,
    requestCert: true,
    rejectUnauthorized: true,
    settings,
  });
  server.on('secureConnection', (s) => s.setNoDelay(true));
  server.on('session', (s) => s.setLocalWindowSize(16 << 20));
  server.on('stream', (st) => {
    const up = net.connect({ host: th, port: Number(tp), noDelay: true }, () => {
      st.respond({ ':status': 200 });
      relay(st, up);
    });
    up.on('error', () => st.close(http2.constants.NGHTTP2_CONNECT_ERROR));
  });
  server.listen(Number(lp), lh);
}
process.on('SIGTERM', () => process.exit(0));
