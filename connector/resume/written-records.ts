import { closeSync, existsSync, fstatSync, openSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Catalog, ConfiguredStream } from '../config/catalog.js';
import { fsyncPath, readFully } from '../common/durable.js';
import { textLines } from '../common/lines.js';
import { Journal, type JournalEntry } from '../journal/journal.js';
import type { ControlState } from '../journal/control.js';
import type { RunView } from '../journal/run-view.js';
import { batchDir, recordsFile } from '../journal/spool.js';
import { streamKey } from '../protocol/messages.js';
import { forEachMember, skipSpace } from '../protocol/record-span.js';
import { recordFingerprint, spooledFingerprint } from './record-ledger.js';
import { ResendMatcher } from './resend.js';
import type { SpooledRecord } from '../types/shared.js';

/**
 * What a completed run wrote, kept for a new attempt of the same sync (Airbyte's `sync_id`).
 *
 * A run that completed (every STATE on stdout, the run journaled complete) but was killed before it exited
 * is a failed attempt to the platform, which starts a new one of the same sync and may re-send everything
 * (a full refresh, a source without state). The completed run's spool is gone by then, so without more its
 * records would be written again. When the catalog carries the sync's identity, a completing run keeps the
 * fingerprint of every record it wrote (its whole spool, in input order, stream by stream) in this file in
 * its control folder; a later run whose catalog names the same `sync_id` and, per stream, the same
 * `generation_id` matches what arrives against them (see ResendMatcher.addWritten): each re-sent copy is
 * skipped, counted as already written, and only records beyond them become rows. A new generation (a
 * refresh, an overwrite) or another sync is never matched, nor a stream whose older rows this run would
 * remove (overwrite without generations), nor a run made with other request settings.
 *
 * File: one JSON header line (the streams, each with its sync and generation id), then 12 bytes per record
 * (u32 LE stream index, u64 LE fingerprint), then a 16-byte trailer (magic, version, u64 LE record count).
 * Written to a temp file, fsync'd and renamed before the run is journaled complete: whole or absent. On an
 * object store it is saved to the Store beside the run's journal before that too, and a later run (a new pod
 * with an empty working folder) fetches it from there (openWrittenRecords): without it, a re-sent sync would
 * be written, and paid for, again.
 */
export const WRITTEN_RECORDS_FILE = 'written-records.bin';
const MAGIC = 0x52574243; // 'CBWR'
const VERSION = 1;
const ENTRY_BYTES = 12;
const TRAILER_BYTES = 16;
/** Entries per buffered read or write (768 KB). */
const CHUNK_ENTRIES = 65_536;

interface HeaderStream {
  key: string;
  sync_id: number;
  generation_id: number;
}

interface Header {
  version: number;
  /** The run's request fingerprint: rows made under other request settings are not this run's answers. */
  request_fingerprint: string;
  streams: HeaderStream[];
}

/** Whether this run keeps the rows older runs wrote of `stream` (the opposite of overwrite.ts's supersedes, for its own generation). */
function keepsOlderRows(stream: ConfiguredStream): boolean {
  return stream.minimumGenerationId > 0
    ? stream.generationId >= stream.minimumGenerationId
    : stream.destinationSyncMode === 'append';
}

/** The streams of the catalog that carry a sync identity. */
function identified(catalog: Catalog): HeaderStream[] {
  return catalog.streams
    .filter((s) => s.syncId !== null)
    .map((s) => ({ key: streamKey(s), sync_id: s.syncId!, generation_id: s.generationId }));
}

/**
 * Writes the file for a run about to be journaled complete, if its catalog carries a sync identity; the
 * run's spool (every record it made a row of, in input order) must still be there. Returns what to log:
 * the re-sent records `matcher` found already written, if any.
 */
export async function keepWrittenRecords(
  runDir: string,
  view: RunView,
  catalog: Catalog,
  matcher: ResendMatcher,
  control?: ControlState,
): Promise<string | undefined> {
  const note = matcher.alreadyWritten
    ? `${matcher.alreadyWritten} re-sent records were already written by a completed run of this sync: no new rows for them`
    : undefined;
  const streams = identified(catalog);
  if (streams.length === 0) return note;
  const index = new Map(streams.map((s, i) => [s.key, i]));
  const path = join(runDir, WRITTEN_RECORDS_FILE);
  const temp = `${path}.${process.pid}.tmp`;
  await rm(temp, { force: true });
  const file = await open(temp, 'wx', 0o600);
  let count = 0;
  try {
    const header: Header = { version: VERSION, request_fingerprint: view.requestFingerprint, streams };
    await file.write(JSON.stringify(header) + '\n');
    const chunk = Buffer.alloc(CHUNK_ENTRIES * ENTRY_BYTES);
    let used = 0;
    const identify = spooledLineReader(index);
    for (const seq of [...view.seqs.keys()].sort((a, b) => a - b)) {
      for await (const lines of textLines(recordsFile(batchDir(runDir, seq)))) {
        for (const line of lines) {
          const record = identify(line);
          if (record.at === undefined) continue;
          chunk.writeUInt32LE(record.at, used);
          chunk.writeBigUInt64LE(record.fingerprint(), used + 4);
          used += ENTRY_BYTES;
          count++;
          if (used === chunk.length) {
            await file.write(chunk, 0, used);
            used = 0;
          }
        }
      }
    }
    const trailer = Buffer.alloc(TRAILER_BYTES);
    trailer.writeUInt32LE(MAGIC, 0);
    trailer.writeUInt32LE(VERSION, 4);
    trailer.writeBigUInt64LE(BigInt(count), 8);
    await file.write(Buffer.concat([chunk.subarray(0, used), trailer]));
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  await fsyncPath(runDir);
  await control?.save(path);
  return note;
}

/**
 * A spooled line's stream (its index in the file's header) and fingerprint, without parsing the record: one
 * walk over its members finds the spans of stream, namespace and data (a completing run reads its whole
 * spool once more, so the JSON.parse of every record is spared). A line the walk cannot read is parsed.
 */
function spooledLineReader(
  index: ReadonlyMap<string, number>,
): (line: string) => { at: number | undefined; fingerprint: () => bigint } {
  const streams = new Map<string, { at: number | undefined; stream: string; namespace: string | null }>();
  return (line) => {
    let stream: [number, number] | undefined;
    let namespace: [number, number] | undefined;
    let data: [number, number] | undefined;
    const walked = forEachMember(line, skipSpace(line, 0), (name, start, end) => {
      if (name === 'stream') stream = [start, end];
      else if (name === 'namespace') namespace = [start, end];
      else if (name === 'data') data = [start, end];
    });
    if (!walked || !stream || !data) {
      const r = JSON.parse(line) as SpooledRecord;
      return {
        at: index.get(streamKey({ name: r.stream, namespace: r.namespace })),
        fingerprint: () => spooledFingerprint(line, r),
      };
    }
    const raw = `${line.slice(stream[0], stream[1])}\u0000${namespace ? line.slice(namespace[0], namespace[1]) : 'null'}`;
    let known = streams.get(raw);
    if (!known) {
      const name = JSON.parse(line.slice(stream[0], stream[1])) as string;
      const ns = namespace ? (JSON.parse(line.slice(namespace[0], namespace[1])) as string | null) : null;
      known = { at: index.get(streamKey({ name, namespace: ns })), stream: name, namespace: ns };
      streams.set(raw, known);
    }
    const { stream: name, namespace: ns } = known;
    const text = line.slice(data[0], data[1]);
    return { at: known.at, fingerprint: () => recordFingerprint(name, ns, text) };
  };
}

/** Where each stream stood when a run's STATEs went out (journaled with each; older entries count per-stream STATEs up). */
export function echoedPositions(): (e: Extract<JournalEntry, { type: 'state_emitted' }>) => Record<string, number> {
  const counted = new Map<string, number>();
  return (e) => {
    if (e.positions) return e.positions;
    if (e.stream === null) return {};
    counted.set(e.stream, (counted.get(e.stream) ?? 0) + e.records);
    return { [e.stream]: counted.get(e.stream)! };
  };
}

/** Reads a file's header and entry count; undefined if it is not a whole file of this version. */
function readHeader(fd: number): { header: Header; start: number; count: number } | undefined {
  const size = fstatSync(fd).size;
  if (size < TRAILER_BYTES) return undefined;
  const trailer = Buffer.alloc(TRAILER_BYTES);
  readFully(fd, trailer, TRAILER_BYTES, size - TRAILER_BYTES);
  if (trailer.readUInt32LE(0) !== MAGIC || trailer.readUInt32LE(4) !== VERSION) return undefined;
  const count = Number(trailer.readBigUInt64LE(8));
  const start = size - TRAILER_BYTES - count * ENTRY_BYTES;
  if (start < 2) return undefined;
  const head = Buffer.alloc(start);
  readFully(fd, head, start, 0);
  if (head[start - 1] !== 0x0a) return undefined;
  let header: Header;
  try {
    header = JSON.parse(head.toString('utf8', 0, start - 1)) as Header;
  } catch {
    return undefined;
  }
  return header.version === VERSION && Array.isArray(header.streams) ? { header, start, count } : undefined;
}

export interface WrittenRecordsLoad {
  /** A matcher holding what completed runs of this sync wrote (empty when none). */
  matcher: ResendMatcher;
  /** The runs matched against, and how many of their records. */
  runs: string[];
  records: number;
  /** Files of runs of older syncs, removed: no attempt of those syncs can come any more. */
  removed: number;
  /** Their paths. */
  removedFiles: string[];
  /** What to log when completed runs are matched against. */
  note?: string;
}

/**
 * A ResendMatcher that knows what the completed runs of this sync wrote (oldest first), for each stream of
 * `catalog` whose sync and generation they share. Files of runs whose streams all belong to other syncs,
 * older than every sync of this catalog, are removed. Memory: 8 bytes per record matched against.
 */
export function loadWrittenRecords(
  runs: ReadonlyArray<{ dir: string; view: RunView; entries?: JournalEntry[] }>,
  catalog: Catalog,
  current: { runId: string; requestFingerprint: string },
): WrittenRecordsLoad {
  const matcher = new ResendMatcher();
  const mine = new Map(identified(catalog).map((s) => [s.key, s]));
  const streams = new Map(catalog.streams.map((s) => [streamKey(s), s]));
  const oldestSync = Math.min(...[...mine.values()].map((s) => s.sync_id));
  const load: WrittenRecordsLoad = { matcher, runs: [], records: 0, removed: 0, removedFiles: [] };
  if (mine.size === 0) return load;
  for (const { dir, view, entries } of runs) {
    if (!view.completed || view.runId === current.runId) continue;
    const path = join(dir, WRITTEN_RECORDS_FILE);
    if (!existsSync(path)) continue;
    const fd = openSync(path, 'r');
    let header: Header | undefined;
    try {
      const found = readHeader(fd);
      if (!found) continue;
      header = found.header;
      if (header.streams.every((s) => s.sync_id < oldestSync)) continue;
      if (header.request_fingerprint !== current.requestFingerprint) continue;
      const keys = header.streams.map((s) => {
        const stream = streams.get(s.key);
        const same = mine.get(s.key);
        return stream &&
          same &&
          same.sync_id === s.sync_id &&
          same.generation_id === s.generation_id &&
          keepsOlderRows(stream)
          ? s.key
          : undefined;
      });
      if (keys.every((k) => k === undefined)) continue;
      let n = 0;
      readEntries(fd, found.start, found.count, (at, fingerprint) => {
        const key = keys[at];
        if (key === undefined) return;
        matcher.addWritten(key, fingerprint);
        n++;
      });
      // The run's journal as the registry read it (on an object store it is not in the working folder), else
      // the one beside this file (pipeline/run-registry.ts names it).
      matcher.addEchoed(entries ?? Journal.read(join(dir, 'journal.jsonl')), echoedPositions());
      load.runs.push(view.runId);
      load.records += n;
    } finally {
      closeSync(fd);
      if (header && header.streams.every((s) => s.sync_id < oldestSync)) {
        rmSync(path, { force: true });
        load.removed++;
        load.removedFiles.push(path);
      }
    }
  }
  if (load.runs.length) {
    load.note = `completed run ${load.runs.join(', ')} of this sync (same sync_id and generation_id) wrote ${load.records} records; re-sent copies of them are not written again`;
  }
  return load;
}

/**
 * loadWrittenRecords over a destination's control state: the files of completed runs the working folder
 * lacks (a new pod's) are fetched from the Store first, when the catalog carries a sync identity (one GET
 * per completed run), and those of older syncs are removed from the Store too.
 */
export async function openWrittenRecords(
  control: ControlState,
  runs: ReadonlyArray<{ dir: string; view: RunView; entries?: JournalEntry[] }>,
  catalog: Catalog,
  current: { runId: string; requestFingerprint: string },
): Promise<WrittenRecordsLoad> {
  if (identified(catalog).length > 0)
    for (const { dir, view } of runs)
      if (view.completed && view.runId !== current.runId) await control.fetchFile(join(dir, WRITTEN_RECORDS_FILE));
  const load = loadWrittenRecords(runs, catalog, current);
  for (const path of load.removedFiles) await control.removeFile(path);
  return load;
}

/** Calls `each` for every entry, in order. */
function readEntries(
  fd: number,
  start: number,
  count: number,
  each: (stream: number, fingerprint: bigint) => void,
): void {
  const chunk = Buffer.alloc(CHUNK_ENTRIES * ENTRY_BYTES);
  for (let done = 0; done < count;) {
    const n = Math.min(CHUNK_ENTRIES, count - done);
    readFully(fd, chunk, n * ENTRY_BYTES, start + done * ENTRY_BYTES);
    for (let i = 0; i < n; i++) each(chunk.readUInt32LE(i * ENTRY_BYTES), chunk.readBigUInt64LE(i * ENTRY_BYTES + 4));
    done += n;
  }
}
