#!/usr/bin/env node
// Scale benchmark: a large sync through the time-scaled emulator at an account's own limits (Start tier:
// 1,000 RPM to the batch endpoints, 200,000 requests in the processing queue) with the realistic latency
// model, beside the theoretical minimum for that account; then three connections sharing one key. See README
// "Scale". Run with `npm run bench:scale` (builds first), or after a build:
//   node bench/scale.mjs [--n 1000000] [--ci] [--factor 20] [--shared-n 200000] [--no-single] [--no-shared] [--out bench/scale-results.md]
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateInput, writeCatalog } from './generate.mjs';
import { startEmulator, TIERS } from '../dist/emulator/index.js';
import { expectedLatencyMs } from '../dist/emulator/latency.js';
import { RECOMMENDED_HEAP_MB } from '../dist/connector/common/heap.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const CLI = join(ROOT, 'dist', 'connector', 'cli.js');
const KEY = 'bench-scale-key';
const MINUTE = 60_000;

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' },
    ci: { type: 'boolean', default: false },
    factor: { type: 'string', default: '20' },
    'shared-n': { type: 'string' },
    'no-single': { type: 'boolean', default: false },
    'no-shared': { type: 'boolean', default: false },
    seed: { type: 'string', default: '42' },
    out: { type: 'string' },
  },
});
const N = opts.ci ? 200_000 : Number(opts.n);
const SHARED_N = Number(opts['shared-n'] ?? Math.round(N / 5));
const FACTOR = Number(opts.factor);
const SEED = Number(opts.seed);
const TIER = TIERS.start;
const LATENCY = {}; // the model's defaults: start-up ~15 min (log-normal), 60 ms per request, 2% of batches 4× slower
const OUT = opts.out ? resolve(opts.out) : join(BENCH, 'scale-results.md');
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm run bench:scale does)`);

const work = mkdtempSync(join(tmpdir(), 'claude-batch-scale-'));
const minutes = (ms) => ms / MINUTE;
const fmt = (n, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

/** One `write` process: its input file, its own destination; resolves with wall time, exit and peak RSS. */
function runWriter(emu, tag, inputPath, catalogPath) {
  const destination = join(work, `out-${tag}`);
  const configPath = join(work, `config-${tag}.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      api_key: KEY,
      base_url: emu.url,
      destination_path: destination,
      prompt_template: 'Summarise this record in one sentence.\n\n{{ body }}',
      poll_interval_seconds: 30,
      progress_interval_seconds: 600,
      result_cache: { enabled: false },
    }),
  );
  const statsFile = join(work, `stats-${tag}.json`);
  return new Promise((resolvePromise, reject) => {
    const stdin = openSync(inputPath, 'r');
    const started = performance.now();
    const apiStart = emu.now();
    const child = spawn(
      process.execPath,
      [
        '-r',
        join(BENCH, 'peak-rss.cjs'),
        `--max-old-space-size=${RECOMMENDED_HEAP_MB}`,
        CLI,
        'write',
        '--config',
        configPath,
        '--catalog',
        catalogPath,
      ],
      {
        cwd: ROOT,
        env: { ...process.env, CLAUDE_BATCH_TIME_SCALE: String(FACTOR), BENCH_STATS_FILE: statsFile },
        stdio: [stdin, 'pipe', 'pipe'],
      },
    );
    closeSync(stdin);
    let error;
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"ERROR"')) error = JSON.parse(line).trace?.error?.message ?? line;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const wallS = (performance.now() - started) / 1000;
      const stats = existsSync(statsFile) ? JSON.parse(readFileSync(statsFile, 'utf8')) : {};
      const runs = join(destination, '_claude_batch', 'runs');
      const runDir = existsSync(runs) ? readdirSync(runs).map((d) => join(runs, d))[0] : undefined;
      const manifestPath = runDir && join(runDir, 'manifest.json');
      const manifest =
        manifestPath && existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : undefined;
      const journal = runDir
        ? readFileSync(join(runDir, 'journal.jsonl'), 'utf8')
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
        : [];
      const started0 = Date.parse(journal.find((e) => e.type === 'run_started')?.at ?? new Date().toISOString());
      const lastSeal = Math.max(...journal.filter((e) => e.type === 'batch_submitting').map((e) => Date.parse(e.at)));
      resolvePromise({
        tag,
        code,
        error: error ?? (code === 0 ? undefined : stderr),
        wallS,
        apiMs: emu.now() - apiStart,
        // Reading ends when the last batch is sealed (its submission is journaled right then).
        readApiMs: (lastSeal - started0) * FACTOR,
        rssMb: (stats.VmHWMKb ?? stats.maxRssKb ?? 0) / 1024,
        rows: manifest?.rows_out ?? 0,
        byStatus: manifest?.streams?.[0]?.by_status ?? {},
        batchIds: new Set(manifest?.batches?.flatMap((b) => b.batch_ids).filter(Boolean) ?? []),
        attempts: manifest?.attempts,
      });
    });
  });
}

/** The best any scheduler could do with these very batches and this queue: start each as soon as the queue has room. */
function idealMakespan(batches, queue) {
  const running = []; // [endAt, requests]
  let t = 0;
  let queued = 0;
  for (const b of batches) {
    running.sort((x, y) => x[0] - y[0]);
    while (queued + b.requests > queue && running.length) {
      const [end, n] = running.shift();
      t = Math.max(t, end);
      queued -= n;
    }
    running.push([t + b.durationMs, b.requests]);
    queued += b.requests;
  }
  return Math.max(...running.map((r) => r[0]));
}

async function scenario(label, writers, perWriter) {
  const slug = label.replace(/\W+/g, '-');
  const emu = await startEmulator({
    apiKeys: [KEY],
    clockFactor: FACTOR,
    latency: LATENCY,
    limits: TIER,
    seed: SEED,
    keepRequests: false,
    dataDir: join(work, `emu-${slug}`),
  });
  try {
    const catalogPath = join(work, 'catalog.json');
    await writeCatalog(catalogPath);
    const inputs = [];
    for (let w = 0; w < writers; w++) {
      const path = join(work, `input-${slug}-${w}.jsonl`);
      await generateInput(path, perWriter, { seed: 7 + w });
      inputs.push(path);
    }
    process.stderr.write(`${label}: ${writers} × ${perWriter.toLocaleString('en-US')} records, clock ×${FACTOR}\n`);
    const results = await Promise.all(inputs.map((p, w) => runWriter(emu, `${slug}-${w}`, p, catalogPath)));
    const views = await emu.batches();
    const batches = views.map((b) => ({
      id: b.id,
      requests: Object.values(b.request_counts).reduce((a, c) => a + c, 0),
      durationMs: Date.parse(b.ended_at ?? b.created_at) - Date.parse(b.created_at),
      createdAt: Date.parse(b.created_at),
    }));
    const stats = emu.limitStats();
    const total = writers * perWriter;
    const meanLatency = batches.reduce((a, b) => a + b.durationMs, 0) / batches.length;
    const waves = Math.ceil(total / TIER.maxQueuedRequests);
    const read = Math.max(...results.map((r) => r.readApiMs));
    const minimum = waves * meanLatency + read;
    const ideal = idealMakespan(
      [...batches].sort((a, b) => a.createdAt - b.createdAt),
      TIER.maxQueuedRequests,
    );
    const apiMs = Math.max(...results.map((r) => r.apiMs));
    const failures = results.reduce(
      (n, r) => n + (r.code === 0 ? 0 : 1) + (total / writers - r.rows) + (r.rows - (r.byStatus.succeeded ?? 0)),
      0,
    );
    return {
      label,
      writers,
      total,
      results,
      batches: batches.length,
      meanLatency,
      modelLatency: expectedLatencyMs(LATENCY, 10_000),
      waves,
      read,
      minimum,
      ideal,
      apiMs,
      ratio: apiMs / minimum,
      stats,
      callsPer1k: ((stats.accepted + stats.refusedRpm + stats.refusedQueue + stats.refusedSpend) / total) * 1000,
      failures,
    };
  } finally {
    await emu.close();
  }
}

function table(rows) {
  const lines = [
    '| scenario | records | batches | wall (API time) | theoretical min | ratio | ideal schedule (ratio) | peak RPM / limit | 429s (RPM, queue) | API calls / 1k records | peak RSS | failures |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of rows) {
    const rss = s.results.map((r) => `${fmt(r.rssMb, 0)} MB`).join(', ');
    lines.push(
      `| ${s.label} | ${s.total.toLocaleString('en-US')} | ${s.batches} | ${fmt(minutes(s.apiMs))} min | ${fmt(minutes(s.minimum))} min (${s.waves} waves × ${fmt(minutes(s.meanLatency))} min + read ${fmt(minutes(s.read))} min) | ${fmt(s.ratio, 2)}× | ${fmt(minutes(s.ideal))} min (${fmt(s.apiMs / s.ideal, 2)}×) | ${s.stats.peakRpm} / ${TIER.requestsPerMinute} | ${s.stats.refusedRpm + s.stats.refusedQueue} (${s.stats.refusedRpm}, ${s.stats.refusedQueue}) | ${fmt(s.callsPer1k, 2)} | ${rss} | ${s.failures} |`,
    );
  }
  return lines.join('\n');
}

const scenarios = [];
try {
  if (!opts['no-single']) scenarios.push(await scenario(`1 connection`, 1, N));
  if (!opts['no-shared']) scenarios.push(await scenario(`3 connections, 1 key`, 3, SHARED_N));
} finally {
  rmSync(work, { recursive: true, force: true });
}
const shared = scenarios.find((s) => s.writers === 3);
const fairness = shared
  ? `\nThree connections on one key: finished after ${shared.results.map((r) => `${fmt(minutes(r.apiMs))} min`).join(', ')} of API time ` +
    `(slowest/fastest ${fmt(Math.max(...shared.results.map((r) => r.apiMs)) / Math.min(...shared.results.map((r) => r.apiMs)), 2)}), exit codes ${shared.results.map((r) => r.code).join(', ')}.\n`
  : '';
const errors = scenarios.flatMap((s) => s.results.filter((r) => r.error).map((r) => `- ${r.tag}: ${r.error}`));
const report =
  `## Scale benchmark (${new Date().toISOString().slice(0, 10)}, clock ×${FACTOR}, Start tier: ${TIER.requestsPerMinute} RPM, ${TIER.maxQueuedRequests.toLocaleString('en-US')} queued; latency model mean for 10k requests ${fmt(minutes(expectedLatencyMs(LATENCY, 10_000)))} min)\n\n` +
  table(scenarios) +
  '\n' +
  fairness +
  (errors.length ? `\nErrors:\n${errors.join('\n')}\n` : '');
process.stdout.write(report + '\n');
writeFileSync(OUT, report + '\n');
process.exitCode = scenarios.every((s) => s.failures === 0) ? 0 : 1;
