/**
 * ztunnel's side of ZDS: connects to the node agent's unix socket, says
 * hello, and hands each WorkloadRequest to a handler, one at a time, acking
 * each with the handler's error (if any). A lost connection is retried with
 * backoff (capped at 15 s, like ztunnel); the agent then replays its snapshot.
 */

import net from 'node:net';
import { create } from '@bufbuild/protobuf';
import { Backoff } from '../core/backoff.js';
import { errorMessage } from '../core/errors.js';
import { logger } from '../telemetry/index.js';
import {
  ackFrame,
  decodeRequest,
  encodeHello,
  readFrames,
  type WorkloadRequest,
  ZdsHelloSchema,
  ZdsVersion,
} from './zds.js';

const log = logger('zds');

export interface ZdsHandler {
  /** Handles one request; a thrown error is sent back as the ack's error. */
  handle(req: WorkloadRequest): Promise<void>;
  /** The connection to the agent went up (true, after hello) or down (false). */
  connected?(up: boolean): void;
}

export class ZdsClient {
  private socket: net.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly backoff = new Backoff({ initialMs: 100, maxMs: 15_000 });
  private up = false;
  private connects = 0;

  constructor(
    private readonly socketPath: string,
    private readonly handler: ZdsHandler,
  ) {}

  get connected(): boolean {
    return this.up;
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    const socket = net.connect(this.socketPath);
    this.socket = socket;
    let chain: Promise<void> = Promise.resolve();
    socket.on('connect', () => {
      this.connects += 1;
      this.backoff.reset();
      socket.write(encodeHello(create(ZdsHelloSchema, { version: ZdsVersion.V1 })));
      this.up = true;
      log.info({ socket: this.socketPath }, 'connected to the node agent');
      this.handler.connected?.(true);
    });
    readFrames(
      socket,
      decodeRequest,
      (req) => {
        chain = chain.then(async () => {
          let error = '';
          try {
            await this.handler.handle(req);
          } catch (err) {
            error = errorMessage(err);
            log.error({ request: req.payload.case, err: error }, 'ZDS request failed');
          }
          if (!socket.destroyed) socket.write(ackFrame(error));
        });
      },
      (err) => {
        log.error({ code: err.code, err: err.message }, 'malformed ZDS frame; reconnecting');
        socket.destroy();
      },
    );
    socket.on('error', (err) => {
      log.debug({ err: errorMessage(err) }, 'ZDS connection error');
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      if (this.up) {
        this.up = false;
        log.warn('node agent connection lost');
        this.handler.connected?.(false);
      }
      if (this.stopped) return;
      const delay = this.backoff.next();
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }

  dump(): Record<string, unknown> {
    return { socket: this.socketPath, connected: this.up, connects: this.connects };
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.socket?.destroy();
  }
}
