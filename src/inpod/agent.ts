/**
 * The node agent (Istio's CNI node agent, ZDS server side): owns the pods
 * enrolled on this node, writes their in-pod capture rules and tells the
 * node's ztunnel about them over the ZDS unix socket.
 *
 * As in Istio, the agent is the server and ztunnel the client. On every
 * (re)connect ztunnel sends ZdsHello; the agent replays every enrolled pod
 * (AddWorkload) and then SnapshotSent, and ztunnel drops anything it holds
 * that was not in the snapshot. Every request is acknowledged; the agent
 * sends one request at a time and waits for its ack (so a pod's enrolment
 * returns only once ztunnel listens inside it). While no ztunnel is
 * connected, enrolments are kept and go out in the next snapshot; the pod's
 * capture rules stay in place (fail closed) either way.
 *
 * ambit deviations (docs/platform.md): SOCK_STREAM + length-prefixed frames
 * instead of SOCK_SEQPACKET, and the netns as a path instead of an fd.
 */

import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { create } from '@bufbuild/protobuf';
import { AmbitError, errorMessage } from '../core/errors.js';
import { type Ledger, netnsPath } from '../platform/index.js';
import { logger } from '../telemetry/index.js';
import { applyInpodRules, releaseInpodRules, removeInpodRules } from './apply.js';
import { InpodErrors } from './errors.js';
import { INPOD_DEFAULTS } from './rules.js';
import {
  decodeHello,
  decodeResponse,
  encodeRequest,
  readFrames,
  type WorkloadRequest,
  WorkloadRequestSchema,
  type WorkloadResponse,
  type ZdsHello,
} from './zds.js';

const log = logger('node-agent');

export interface EnrolledPod {
  uid: string;
  namespace: string;
  name: string;
  serviceAccount: string;
  /** netns name under /run/netns */
  netns: string;
  ips: string[];
}

interface Waiter {
  resolve(error: string): void;
  reject(err: Error): void;
}

/** One ztunnel connection: requests go out one at a time, each waits for its ack. */
class ZdsPeer {
  hello = false;
  snapshotDone = false;
  private readonly acks: Waiter[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  closed = false;

  constructor(readonly socket: net.Socket) {}

  /** Queues `req`; resolves with the ack's error string ('' = ok). */
  send(req: WorkloadRequest): Promise<string> {
    const run = (): Promise<string> =>
      new Promise<string>((resolve, reject) => {
        if (this.closed) {
          reject(disconnected());
          return;
        }
        this.acks.push({ resolve, reject });
        this.socket.write(encodeRequest(req));
      });
    const p = this.tail.then(run, run);
    this.tail = p.catch(() => {});
    return p;
  }

  onResponse(r: WorkloadResponse): void {
    const w = this.acks.shift();
    if (w === undefined) throw new Error('ack without a request');
    w.resolve(r.payload.case === 'ack' ? r.payload.value.error : 'unexpected response');
  }

  close(): void {
    this.closed = true;
    for (const w of this.acks.splice(0)) w.reject(disconnected());
    this.socket.destroy();
  }
}

function disconnected(): AmbitError {
  return new AmbitError(InpodErrors.ZDS_DISCONNECTED, 'ztunnel disconnected before acknowledging');
}

export class NodeAgent {
  private readonly pods = new Map<string, EnrolledPod>();
  private server: net.Server | undefined;
  private peer: ZdsPeer | undefined;
  private readonly socketPath: string;
  private readonly ledger: Ledger;
  private readonly mark: number;
  private readonly sockets = new Set<net.Socket>();

  constructor(opts: { socketPath: string; ledger: Ledger; mark?: number }) {
    this.socketPath = opts.socketPath;
    this.ledger = opts.ledger;
    this.mark = opts.mark ?? INPOD_DEFAULTS.proxyMark;
  }

  /** True once a ztunnel said hello and acknowledged the snapshot. */
  get ztunnelConnected(): boolean {
    return this.peer?.snapshotDone === true && !this.peer.closed;
  }

  async start(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true, mode: 0o700 });
    // A stale socket file from a crashed agent would make listen fail with EADDRINUSE.
    rmSync(this.socketPath, { force: true });
    const server = net.createServer((s) => this.onConnection(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.socketPath, 0o600);
    server.on('error', (err) => log.error({ err: errorMessage(err) }, 'ZDS server error'));
    this.server = server;
    log.info({ socket: this.socketPath }, 'node agent listening');
  }

  private onConnection(socket: net.Socket): void {
    const peer = new ZdsPeer(socket);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    socket.on('close', () => {
      peer.close();
      if (this.peer === peer) {
        this.peer = undefined;
        log.info('ztunnel disconnected');
      }
    });
    readFrames<ZdsHello | WorkloadResponse>(
      socket,
      (bytes, index) => (index === 0 ? decodeHello(bytes) : decodeResponse(bytes)),
      (m) => {
        try {
          if (!peer.hello) {
            peer.hello = true;
            this.onHello(peer);
          } else peer.onResponse(m as WorkloadResponse);
        } catch (err) {
          log.error({ err: errorMessage(err) }, 'ZDS protocol error; resetting the connection');
          peer.close();
        }
      },
      (err) => {
        log.error(
          { code: err.code, err: err.message },
          'malformed ZDS frame; resetting the connection',
        );
        peer.close();
      },
    );
  }

  /** A (re)connected ztunnel: replace the old connection, send the snapshot. */
  private onHello(peer: ZdsPeer): void {
    if (this.peer !== undefined && this.peer !== peer) this.peer.close();
    this.peer = peer;
    log.info({ pods: this.pods.size }, 'ztunnel connected; sending snapshot');
    const pods = [...this.pods.values()];
    void (async () => {
      try {
        for (const pod of pods) {
          const error = await peer.send(addRequest(pod));
          if (error !== '')
            log.error({ uid: pod.uid, error }, 'ztunnel refused a pod in the snapshot');
        }
        await peer.send(
          create(WorkloadRequestSchema, { payload: { case: 'snapshotSent', value: {} } }),
        );
        peer.snapshotDone = true;
        log.info({ pods: pods.length }, 'snapshot acknowledged');
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'snapshot interrupted');
      }
    })();
  }

  async enroll(pod: EnrolledPod): Promise<void> {
    await applyInpodRules(pod.netns, { ledger: this.ledger, proxyMark: this.mark });
    this.pods.set(pod.uid, { ...pod, ips: [...pod.ips] });
    const peer = this.peer;
    // Not connected (or still in its snapshot, which reads `pods` later): the snapshot carries it.
    if (peer === undefined || !peer.hello) return;
    const error = await peer.send(addRequest(pod));
    if (error !== '') {
      throw new AmbitError(
        InpodErrors.ZDS_NACK,
        `ztunnel refused pod ${pod.namespace}/${pod.name}: ${error}`,
        {
          details: { uid: pod.uid },
        },
      );
    }
  }

  async release(uid: string, opts: { podDeleted?: boolean } = {}): Promise<void> {
    const pod = this.pods.get(uid);
    if (pod === undefined) return;
    this.pods.delete(uid);
    if (!opts.podDeleted) {
      // Rules first: new connections go direct at once; the netns anchor
      // keeps conntrack and the NAT bindings of the open ones pointed at
      // ztunnel, which drains them (releaseInpodRules, anchorRuleset).
      await releaseInpodRules(pod.netns, { ledger: this.ledger, proxyMark: this.mark });
      await this.sendDel(uid, false);
      return;
    }
    // Deleted: ztunnel first, so it closes its sockets while conntrack still
    // translates them (its FIN/RST reach the app as from the original
    // destination); then the rules, anchor included.
    await this.sendDel(uid, true);
    await removeInpodRules(pod.netns, { ledger: this.ledger, proxyMark: this.mark }).catch(
      (err: unknown) => log.debug({ err: errorMessage(err) }, 'pod netns already gone'),
    );
  }

  private async sendDel(uid: string, podDeleted: boolean): Promise<void> {
    const peer = this.peer;
    if (peer === undefined || !peer.hello) return;
    const error = await peer
      .send(create(WorkloadRequestSchema, { payload: { case: 'del', value: { uid, podDeleted } } }))
      .catch((err: unknown) => errorMessage(err));
    if (error !== '') log.warn({ uid, error }, 'ztunnel did not acknowledge DelWorkload');
  }

  enrolled(): EnrolledPod[] {
    return [...this.pods.values()].map((p) => ({ ...p, ips: [...p.ips] }));
  }

  async close(): Promise<void> {
    this.peer?.close();
    this.peer = undefined;
    const server = this.server;
    this.server = undefined;
    // server.close() waits for every connection: end them (ztunnel reconnects later).
    for (const sock of this.sockets) sock.destroy();
    if (server !== undefined) await new Promise<void>((r) => server.close(() => r()));
    rmSync(this.socketPath, { force: true });
  }
}

function addRequest(pod: EnrolledPod): WorkloadRequest {
  return create(WorkloadRequestSchema, {
    payload: {
      case: 'add',
      value: {
        uid: pod.uid,
        workloadInfo: {
          name: pod.name,
          namespace: pod.namespace,
          serviceAccount: pod.serviceAccount,
        },
        netnsPath: netnsPath(pod.netns),
      },
    },
  });
}
