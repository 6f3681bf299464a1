import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { processEnv } from '../config/index.js';
import { AmbitError, CoreErrors } from '../core/errors.js';

/** Host tools the local cluster runs, with the Debian package providing each. */
export const REQUIRED_TOOLS: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  nft: 'nftables',
  nsenter: 'util-linux',
  sysctl: 'procps',
};

function onPath(tool: string, path: string): boolean {
  return path.split(':').some((dir) => {
    if (dir === '') return false;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * Checks what `ambit up` needs before it creates anything: root, then the
 * host tools. Throws AMBIT_NOT_ROOT or AMBIT_TOOL_MISSING with one clear line.
 */
export function preflight(what: string, env = processEnv()): void {
  if (process.geteuid?.() !== 0) {
    throw new AmbitError(
      CoreErrors.NOT_ROOT,
      `${what} needs root (it creates network namespaces, veths and nftables rules); run it with sudo`,
    );
  }
  const path = env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const missing = Object.keys(REQUIRED_TOOLS).filter((t) => !onPath(t, `${path}:/usr/sbin:/sbin`));
  if (missing.length > 0) {
    throw new AmbitError(
      CoreErrors.TOOL_MISSING,
      `${what} needs ${missing.map((t) => `\`${t}\``).join(', ')}: apt-get install ${[...new Set(missing.map((t) => REQUIRED_TOOLS[t]))].join(' ')}`,
      { details: { missing } },
    );
  }
}
