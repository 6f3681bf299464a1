// catalog: GET /items returns JSON with its version and the peer address it saw.
// Test knobs (used by the waypoint tests): FAIL_EVERY=N answers 503 to every
// Nth request; DELAY_MS delays every answer.
import http from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const version = process.env.VERSION ?? 'v1';
const failEvery = Number(process.env.FAIL_EVERY ?? 0);
const delayMs = Number(process.env.DELAY_MS ?? 0);
let count = 0;

http
  .createServer((req, res) => {
    if (req.url === '/healthz') return res.end('ok');
    if (!req.url.startsWith('/items')) {
      res.writeHead(404).end();
      return;
    }
    count++;
    const answer = () => {
      if (failEvery > 0 && count % failEvery === 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ service: 'catalog', version, error: 'injected failure' })}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-catalog-version': version });
      res.end(
        `${JSON.stringify({
          service: 'catalog',
          version,
          items: ['kettle', 'teapot', 'mug'],
          peer: `${req.socket.remoteAddress}:${req.socket.remotePort}`,
          canary: req.headers['x-canary'] ?? null,
          traceparent: req.headers.traceparent ?? null,
        })}\n`,
      );
    };
    if (delayMs > 0) setTimeout(answer, delayMs);
    else answer();
  })
  .listen(port, () => process.stdout.write(`catalog ${version} listening on ${port}\n`));
