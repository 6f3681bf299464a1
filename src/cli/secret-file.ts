import { chmodSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Writes a file with `mode` (default 0600, for private keys) via a temp file
 * and rename, so a key never sits in a file with wider permissions, even
 * when it replaces an existing one.
 */
export function writeSecretFile(path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
