import { Worker } from 'node:worker_threads';
import type { ConnectorConfig } from '../config/config.js';
import type { ConfiguredStream } from '../config/catalog.js';
import { ConnectorError, systemError, type FailureType } from '../common/errors.js';
import type { BatchOutput, BatchResults } from './batch-writer.js';
import type { RoundIndex } from '../types/shared.js';

/*
 * Joining a batch's records with its answers and encoding Parquet is most of the connector's CPU. The
 * process is otherwise one thread, so without this, reading stdin and writing Parquet take turns on one
 * core. The output thread runs writeBatchOutput on its own core while the main thread keeps reading,
 * spooling and submitting. It also parses each downloaded results file (indexRound) and sends back where
 * each answer is and what the retry decision needs. The journal, the result cache and stdout stay on the
 * main thread: the thread only reads spool files, writes Parquet files (atomically, as before) and reports.
 * Jobs run one at a time, in the order they were sent.
 */

/** What the thread needs to rebuild the write context: plain data only (the API key is left out). */
export interface OutputSetup {
  config: Omit<ConnectorConfig, 'api_key'>;
  streams: ConfiguredStream[];
  /** Whether to hand back the answers worth caching (a result cache is open). */
  keepAnswers: boolean;
}

export type OutputJob =
  | { kind: 'write'; id: number; runId: string; seq: number; recordsPath: string; results: BatchResults }
  | { kind: 'index'; id: number; path: string; round: number; expected: ReadonlySet<string> };
type Job<K extends OutputJob['kind']> = Omit<Extract<OutputJob, { kind: K }>, 'id' | 'kind'>;

export type OutputReply =
  | { id: number; ok: true; done?: BatchOutput; index?: RoundIndex }
  | { id: number; ok: false; error: { message: string; code?: string; failureType?: FailureType; errno?: string } };

/** The worker entry, beside this module in dist/. */
const ENTRY = new URL('./output-thread-main.js', import.meta.url);

export class OutputThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (reply: Extract<OutputReply, { ok: true }>) => void; reject: (err: Error) => void }
  >();
  private dead: Error | undefined;

  constructor(private readonly setup: OutputSetup) {}

  /** Started on the first job: a run with nothing to write (no records, submit_only) never pays for it. */
  private started(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(ENTRY, { workerData: this.setup });
    worker.on('message', (reply: OutputReply) => this.settle(reply));
    worker.on('error', (err) =>
      this.die(systemError('OUTPUT_THREAD', `the Parquet output thread failed: ${err.message}`, err)),
    );
    worker.on('exit', (code) =>
      this.die(systemError('OUTPUT_THREAD', `the Parquet output thread exited (code ${code})`)),
    );
    this.worker = worker;
    return worker;
  }

  /** Writes one batch's Parquet output on the thread; resolves when its files are committed. */
  async write(job: Job<'write'>): Promise<BatchOutput> {
    return (await this.send({ ...job, kind: 'write', id: this.nextId++ })).done!;
  }

  /** Indexes one round's results file on the thread (see indexRound). */
  async index(job: Job<'index'>): Promise<RoundIndex> {
    return (await this.send({ ...job, kind: 'index', id: this.nextId++ })).index!;
  }

  private send(job: OutputJob): Promise<Extract<OutputReply, { ok: true }>> {
    if (this.dead) return Promise.reject(this.dead);
    const worker = this.started();
    return new Promise((resolve, reject) => {
      this.waiting.set(job.id, { resolve, reject });
      worker.ref(); // keep the process alive while a job is in flight
      worker.postMessage(job);
    });
  }

  async close(): Promise<void> {
    this.dead ??= systemError('OUTPUT_THREAD', 'the Parquet output thread was closed');
    await this.worker?.terminate();
  }

  private settle(reply: OutputReply): void {
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    // An idle output thread must not keep the process alive.
    if (this.waiting.size === 0) this.worker?.unref();
    if (reply.ok) waiter.resolve(reply);
    else waiter.reject(rebuildError(reply.error));
  }

  private die(err: Error): void {
    this.dead ??= err;
    for (const waiter of this.waiting.values()) waiter.reject(err);
    this.waiting.clear();
  }
}

/** The thread's error as the main thread would have thrown it: same failure type, code and message. */
function rebuildError(e: Extract<OutputReply, { ok: false }>['error']): Error {
  if (e.failureType && e.code) return new ConnectorError(e.failureType, e.code, e.message);
  const err = new Error(e.message) as NodeJS.ErrnoException;
  if (e.errno) err.code = e.errno;
  return err;
}

/** The reply for a failed job (used on the thread side). */
export function errorReply(id: number, err: unknown): OutputReply {
  if (err instanceof ConnectorError)
    return { id, ok: false, error: { message: err.message, code: err.code, failureType: err.failureType } };
  const e: NodeJS.ErrnoException = err instanceof Error ? err : new Error(String(err));
  return { id, ok: false, error: { message: e.message, ...(typeof e.code === 'string' ? { errno: e.code } : {}) } };
}
