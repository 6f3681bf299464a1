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
