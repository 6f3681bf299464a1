/**
 * Local-mode bootstrap credentials: one random bearer token per node.
 *
 * The registry hands the token to the node once (a 0600 file the caller
 * places, e.g. in the node's state dir) and keeps only its SHA-256, in memory
 * and in a 0600 JSON file in the CA state dir, so a restarted control plane
 * still accepts tokens it issued earlier. Hashes are compared in constant time
 * against every entry so response time says nothing about which node matched.
 *
 * `ambit controlplane issue-node-token` is a separate process writing the same
 * store while the control plane runs, so the registry re-reads the file when it
 * changed (stat per authentication: cheap next to a TLS handshake) and merges it
 * before its own writes. Otherwise a freshly issued token would be refused (and a
 * revoked one accepted) until restart, and an in-process issue would drop it.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { AmbitError, errorMessage } from '../../core/errors.js';
import { logger } from '../../telemetry/index.js';
import type { Authenticator, CallCredentials, NodeCaller } from './auth.js';
import { bearerToken, unauthenticated } from './auth.js';
import { CaServiceErrors } from './service-errors.js';

/** Name of the hash store inside the CA state dir. */
export const NODE_TOKEN_STORE_FILE = 'node-tokens.json';
const TOKEN_BYTES = 32;
const NODE_NAME_RE = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

interface StoreFile {
  version: 1;
  nodes: Record<string, { sha256: string; issuedAt: string }>;
}

function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Writes `data` to `path` with mode 0600 atomically (temp file + rename). */
async function writePrivateFile(path: string, data: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode: 0o600, flag: 'wx' });
  await rename(tmp, path);
}

const log = logger('ca');

type Hashes = Map<string, { hash: Buffer; issuedAt: string }>;

/** Identifies one version of the store file (a rename gives a new inode). */
function fileStamp(st: { ino: number; mtimeMs: number; size: number }): string {
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}

function parseStore(text: string): Hashes {
  const parsed = JSON.parse(text) as StoreFile;
  if (parsed.version !== 1 || typeof parsed.nodes !== 'object' || parsed.nodes === null) {
    throw new Error('unsupported layout');
  }
  const out: Hashes = new Map();
  for (const [node, entry] of Object.entries(parsed.nodes)) {
    if (!/^[0-9a-f]{64}$/.test(entry.sha256)) throw new Error(`bad hash for node ${node}`);
    out.set(node, { hash: Buffer.from(entry.sha256, 'hex'), issuedAt: entry.issuedAt });
  }
  return out;
}

export class NodeTokenRegistry {
  private hashes: Hashes = new Map();
  /** Stamp of the store file version `hashes` reflects; '' = no file. */
  private stamp = '';

  private constructor(private readonly storePath: string) {}

  /**
   * Opens (or starts) the registry whose hash store lives in `stateDir`
   * (`node-tokens.json`, 0600). A corrupt store fails with
   * `AMBIT_CA_TOKEN_STORE_INVALID` rather than silently locking every node out.
   */
  static async open(stateDir: string): Promise<NodeTokenRegistry> {
    const reg = new NodeTokenRegistry(join(stateDir, NODE_TOKEN_STORE_FILE));
    let text: string;
    try {
      text = await readFile(reg.storePath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return reg;
      throw new AmbitError(CaServiceErrors.TOKEN_STORE_INVALID, `cannot read ${reg.storePath}`, {
        cause: err,
      });
    }
    try {
      reg.hashes = parseStore(text);
      reg.stamp = fileStamp(await stat(reg.storePath));
    } catch (err) {
      throw new AmbitError(
        CaServiceErrors.TOKEN_STORE_INVALID,
        `${reg.storePath} is corrupt; remove it and re-issue node tokens`,
        { cause: err },
      );
    }
    return reg;
  }

  /**
   * Issues a fresh token for `node`, writes it to `tokenFile` (mode 0600) and
   * stores its hash. Re-issuing replaces the node's previous token. Returns
   * the token so an in-process caller can use it without reading the file.
   */
  async issue(node: string, tokenFile: string): Promise<string> {
    if (!NODE_NAME_RE.test(node)) {
      throw new AmbitError(CaServiceErrors.INVALID_REQUEST, `invalid node name "${node}"`);
    }
    await this.refresh();
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    await writePrivateFile(tokenFile, `${token}\n`);
    this.hashes.set(node, { hash: sha256(token), issuedAt: new Date().toISOString() });
    await this.persist();
    return token;
  }

  /** Forgets the node's token; later calls with it are UNAUTHENTICATED. */
  async revoke(node: string): Promise<boolean> {
    await this.refresh();
    const had = this.hashes.delete(node);
    if (had) await this.persist();
    return had;
  }

  /** Node names with a live token. */
  nodes(): string[] {
    return [...this.hashes.keys()].sort();
  }

  /** The node a token belongs to, or undefined. Compares against every entry in constant time. */
  lookup(token: string): string | undefined {
    const presented = sha256(token);
    let found: string | undefined;
    for (const [node, { hash }] of this.hashes) {
      if (timingSafeEqual(presented, hash) && found === undefined) found = node;
    }
    return found;
  }

  /**
   * Re-reads the store if another process changed it since we last read or wrote it. An
   * unreadable or corrupt file keeps the current tokens (logged): locking every node out
   * over a bad write is worse than serving the last good list.
   */
  async refresh(): Promise<void> {
    let current = '';
    try {
      current = fileStamp(await stat(this.storePath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        log.warn({ path: this.storePath, err: errorMessage(err) }, 'node token store unreadable');
        return;
      }
    }
    if (current === this.stamp || current === '') return;
    try {
      this.hashes = parseStore(await readFile(this.storePath, 'utf8'));
      this.stamp = current;
    } catch (err) {
      log.warn(
        { code: CaServiceErrors.TOKEN_STORE_INVALID, path: this.storePath, err: errorMessage(err) },
        'node token store changed but is not valid; keeping the tokens loaded before',
      );
    }
  }

  private async persist(): Promise<void> {
    const file: StoreFile = { version: 1, nodes: {} };
    for (const [node, { hash, issuedAt }] of this.hashes) {
      file.nodes[node] = { sha256: hash.toString('hex'), issuedAt };
    }
    await writePrivateFile(this.storePath, `${JSON.stringify(file, null, 2)}\n`);
    this.stamp = fileStamp(await stat(this.storePath));
  }
}

/** Local mode: `authorization: Bearer <node token>` → `{ kind: 'node', node }`. */
export class NodeTokenAuthenticator implements Authenticator {
  readonly name = 'node-token';

  constructor(private readonly registry: NodeTokenRegistry) {}

  async authenticate(credentials: CallCredentials): Promise<NodeCaller | undefined> {
    const token = bearerToken(credentials);
    if (token === undefined) return undefined;
    await this.registry.refresh();
    const node = this.registry.lookup(token);
    if (node === undefined) throw unauthenticated('bearer token is not a known node token');
    return { kind: 'node', node, via: 'node-token' };
  }
}
