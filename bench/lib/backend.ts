// The benchmark's app: an HTTP/1.1 server answering every request with 1 KiB,
// listening on 0.0.0.0:8080 inside each network namespace named on the command
// line (one process serves many pods, so the tax run does not pay for 20 apps).
// Keep-alive connections never time out: the idle-connection test holds them.
//   node --import tsx bench/lib/backend.ts <netns>...
import http from 'node:http';
import { listenIn } from '../../src/platform/index.js';

const body = Buffer.alloc(1024, 'x');
const server = http.createServer(
  { keepAliveTimeout: 0, requestTimeout: 0, headersTimeout: 0 },
  (_q, r) => {
    r.setHeader('content-length', 1024);
    r.end(body);
  },
);
server.keepAliveTimeout = 0;
for (const netns of process.argv.slice(2)) {
  const s = await listenIn(netns, { port: 8080, backlog: 4096 });
  s.on('connection', (c) => server.emit('connection', c));
}
process.stdout.write('ready\n');
