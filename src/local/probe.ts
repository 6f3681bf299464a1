import { connectFrom } from '../platform/index.js';

/**
 * One HTTP/1.0 GET from inside `netns`; resolves to the status code, or
 * undefined when nothing answers within `timeoutMs`. Probes run in the
 * runner: the mesh processes listen only inside their namespaces.
 */
export function probeHttp(
  netns: string,
  host: string,
  port: number,
  path: string,
  timeoutMs = 1000,
): Promise<number | undefined> {
  return new Promise((resolve) => {
    let done = false;
    let buf = '';
    const finish = (code: number | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      sock.destroy();
      resolve(code);
    };
    const sock = connectFrom({ netns, host, port });
    const t = setTimeout(() => finish(undefined), timeoutMs);
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const m = /^HTTP\/1\.\d (\d{3})/.exec(buf);
      if (m) finish(Number(m[1]));
    });
    sock.on('error', () => finish(undefined));
    sock.on('close', () => finish(undefined));
  });
}

/**
 * One HTTP/1.0 GET from inside `netns` returning the body (undefined on no
 * answer, a non-200 status or more than `maxBytes`): for admin endpoints that
 * listen only inside a pod's namespace (a waypoint's config_dump).
 */
export function fetchInNetns(
  netns: string,
  port: number,
  path: string,
  timeoutMs = 2000,
  maxBytes = 4 << 20,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (body: string | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(t);
      sock.destroy();
      resolve(body);
    };
    const sock = connectFrom({ netns, host: '127.0.0.1', port });
    const t = setTimeout(() => finish(undefined), timeoutMs);
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`));
    sock.on('data', (d: Buffer) => {
      size += d.length;
      if (size > maxBytes) finish(undefined);
      else chunks.push(d);
    });
    sock.on('error', () => finish(undefined));
    sock.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const sep = text.indexOf('\r\n\r\n');
      finish(/^HTTP\/1\.\d 200/.test(text) && sep >= 0 ? text.slice(sep + 4) : undefined);
    });
  });
}
