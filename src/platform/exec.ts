import { spawn, spawnSync } from 'node:child_process';
import { AmbitError, CoreErrors } from '../core/index.js';
import { PlatformErrors } from './errors.js';
import { type NetnsRef, netnsPath } from './platform.js';

/** Debian package that provides each host tool, for error messages. */
const PACKAGE: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  nft: 'nftables',
  nsenter: 'util-linux',
  sysctl: 'procps',
};

export interface RunOptions {
  /** Run inside this network namespace (through `nsenter --net=`). */
  netns?: NetnsRef;
  /** Written to the command's stdin (e.g. an nft ruleset for `nft -f -`). */
  input?: string;
  /** Kill the command after this long. Default 15000 ms. */
  timeoutMs?: number;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** The argv to run `cmd` in `netns`: nsenter takes names, paths and fds alike. */
export function commandIn(
  netns: NetnsRef | undefined,
  cmd: string,
  args: readonly string[],
): [string, string[]] {
  if (netns === undefined) return [cmd, [...args]];
  return ['nsenter', [`--net=${netnsPath(netns)}`, '--', cmd, ...args]];
}

function toolMissing(tool: string): AmbitError {
  const pkg = PACKAGE[tool];
  return new AmbitError(
    CoreErrors.TOOL_MISSING,
    `\`${tool}\` is not installed${pkg ? ` (apt-get install ${pkg})` : ''}`,
    { details: { tool } },
  );
}

function failure(
  cmd: string,
  args: readonly string[],
  netns: NetnsRef | undefined,
  code: number | null,
  signal: string | null,
  stderr: string,
): AmbitError {
  const where = netns === undefined ? '' : ` in netns ${netns}`;
  // nsenter reports a missing command as exit 127 "failed to execute".
  if (code === 127 && /failed to execute|No such file/.test(stderr)) return toolMissing(cmd);
  if (/Operation not permitted/.test(stderr) && process.geteuid?.() !== 0) {
    return new AmbitError(CoreErrors.NOT_ROOT, `\`${cmd}\`${where} needs root: ${stderr.trim()}`);
  }
  const how = signal ? `was killed by ${signal}` : `exited ${code}`;
  return new AmbitError(
    PlatformErrors.COMMAND_FAILED,
    `\`${cmd} ${args.join(' ')}\`${where} ${how}: ${stderr.trim() || '(no stderr)'}`,
    { details: { cmd, args, netns, code, signal, stderr: stderr.trim() } },
  );
}

/** Runs a host command (optionally in a netns); rejects with a clear AmbitError. */
export function run(
  cmd: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const [bin, argv] = commandIn(opts.netns, cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, argv, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: opts.timeoutMs ?? 15_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? toolMissing(bin) : err);
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(failure(cmd, args, opts.netns, code, signal, stderr));
    });
    child.stdin.on('error', () => {
      // the command exited without reading stdin; 'close' reports why
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Synchronous {@link run}, for exit handlers and crash cleanup. */
export function runSync(cmd: string, args: readonly string[], opts: RunOptions = {}): RunResult {
  const [bin, argv] = commandIn(opts.netns, cmd, args);
  const r = spawnSync(bin, argv, {
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 15_000,
  });
  if (r.error) {
    const err = r.error as NodeJS.ErrnoException;
    throw err.code === 'ENOENT' ? toolMissing(bin) : err;
  }
  if (r.status !== 0) throw failure(cmd, args, opts.netns, r.status, r.signal, r.stderr);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** Throws AMBIT_NOT_ROOT unless the process runs as root. */
export function requireRoot(what: string): void {
  if (process.geteuid?.() !== 0) {
    throw new AmbitError(
      CoreErrors.NOT_ROOT,
      `${what} needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN); run as root`,
    );
  }
}
