// frontend: GET / calls http://catalog/items (forwarding x-canary and trace
// headers) and returns JSON with the catalog's answer.
import http from 'node:http';

const port = Number(process.env.PORT ?? 8080);
const catalogUrl = new URL(process.env.CATALOG_URL ?? 'http://catalog/items');
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const FORWARD = ['x-canary', 'traceparent', 'tracestate', 'baggage', 'x-request-id'];

function callCatalog(req) {
  const headers = {};
  for (const h of FORWARD) if (req.headers[h] !== undefined) headers[h] = req.headers[h];
  return new Promise((resolve, reject) => {
    const out = http.get(catalogUrl, { agent, headers, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        let json;
        try {
          json = JSON.parse(body);
        } catch {
          json = { raw: body };
        }
        resolve({ status: res.statusCode, body: json });
      });
    });
    out.on('timeout', () => out.destroy(new Error('catalog timed out')));
    out.on('error', reject);
  });
}

http
  .createServer((req, res) => {
    if (req.url === '/healthz') return res.end('ok');
    if (req.url !== '/' && !req.url.startsWith('/?')) {
      res.writeHead(404).end();
      return;
    }
    callCatalog(req).then(
      (catalog) => {
        res.writeHead(catalog.status === 200 ? 200 : 502, { 'content-type': 'application/json' });
        res.end(
          `${JSON.stringify({ service: 'frontend', catalog: catalog.body, catalogStatus: catalog.status })}\n`,
        );
      },
      (err) => {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end(
          `${JSON.stringify({ service: 'frontend', error: `catalog unreachable: ${err.message}` })}\n`,
        );
      },
    );
  })
  .listen(port, () => process.stdout.write(`frontend listening on ${port}\n`));
