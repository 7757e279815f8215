#!/usr/bin/env node
// End-to-end benchmark of `destination-claude-batch write` against the Batches API emulator, with two
// baselines on the same input. See bench/README.md. Run with `npm run bench` (builds first), or after a
// build: node bench/run.mjs [--n 10000,100000,1000000] [--batch 10000[,100000]] [--stdin file|pipe]
//                            [--prompt summary|label] [--profile] [--keep] [--no-baselines] [--out bench/results.md]
import { spawn, execFileSync } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateInput, writeCatalog, STREAM } from './generate.mjs';
import { formatSummary, summarise } from './profile-summary.mjs';
// Built by \`npm run bench\` before this runs (as is the CLI it measures).
import { RECOMMENDED_HEAP_MB } from '../dist/connector/common/heap.js';

const BENCH = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(BENCH, '..');
const CLI = join(ROOT, 'dist', 'connector', 'cli.js');
const API_KEY = 'bench-key';
const POLL_MS = 20;
const TARGET_RPS_AT_100K = 25_000;
const TARGET_RSS_MB_AT_1M = 400;

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '10000,100000,1000000' },
    batch: { type: 'string', default: '10000' },
    stdin: { type: 'string', default: 'file' },
    'body-bytes': { type: 'string', default: '1000' },
    prompt: { type: 'string', default: 'summary' },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'no-baselines': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    readFileSync(fileURLToPath(import.meta.url), 'utf8')
      .split('\n')
      .slice(1, 5)
      .join('\n')
      .replace(/^\/\/ ?/gm, '') + '\n',
  );
  process.exit(0);
}
const list = (s, what) =>
  s.split(',').map((v) => {
    const n = Number(v.trim().replace(/_/g, '').replace(/k$/i, '000').replace(/m$/i, '000000'));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${what}: "${v}" is not a positive integer`);
    return n;
  });
const SIZES = list(opts.n, 'n');
const BATCHES = list(opts.batch, 'batch');
const BODY_BYTES = Number(opts['body-bytes']);
if (!['file', 'pipe'].includes(opts.stdin)) throw new Error('--stdin must be file or pipe');
// The emulator answers a prompt that lists labels with one label, anything else with a ~150-character summary.
const PROMPTS = {
  summary: 'Summarise this record in one sentence.\n\n{{ body }}',
  label: 'Classify this record. Answer with one label. Labels: routine, urgent, dispute\n\n{{ body }}',
};
const PROMPT = PROMPTS[opts.prompt];
if (!PROMPT) throw new Error(`--prompt must be one of ${Object.keys(PROMPTS).join(', ')}`);
const PROFILE_DIR = opts.profile ? join(BENCH, 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
// A profiled run is slower than a plain one: its numbers go beside the profiles, not into results.md.
const RESULTS = opts.out
  ? resolve(opts.out)
  : PROFILE_DIR
    ? join(PROFILE_DIR, 'results.md')
    : join(BENCH, 'results.md');

if (!existsSync(CLI)) {
  process.stderr.write(`${CLI} is missing: run "npm run build" first (npm run bench does)\n`);
  process.exit(1);
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

// ---------------------------------------------------------------------------------------------- /proc probes

function procStatus(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
  } catch {
    return undefined;
  }
}

/** user + system CPU seconds of a live process. */
function procCpuSeconds(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** Polls a process's memory every POLL_MS: max VmRSS seen, and the last VmHWM (the kernel's own peak) read. */
function memoryProbe(pid) {
  const probe = { maxRssKb: 0, lastHwmKb: 0, samples: 0 };
  const tick = () => {
    const s = procStatus(pid);
    if (!s) return;
    probe.samples++;
    probe.maxRssKb = Math.max(probe.maxRssKb, s.rssKb);
    probe.lastHwmKb = Math.max(probe.lastHwmKb, s.hwmKb);
  };
  tick();
  const timer = setInterval(tick, POLL_MS);
  probe.stop = () => clearInterval(timer);
  return probe;
}

// ---------------------------------------------------------------------------------------------- children

/** Runs a child to completion, timing it and polling its memory; stdout lines go to onLine. */
function runChild(cmd, args, { stdinFile, stdinMode = 'file', env, onLine, stderrFile } = {}) {
  return new Promise((resolvePromise, reject) => {
    const stdinFd = stdinFile && stdinMode === 'file' ? openSync(stdinFile, 'r') : undefined;
    const stderrFd = stderrFile ? openSync(stderrFile, 'w') : 'inherit';
    const started = performance.now();
    const child = spawn(cmd, args, {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: [stdinFd ?? (stdinFile ? 'pipe' : 'ignore'), 'pipe', stderrFd],
    });
    if (stdinFd !== undefined) closeSync(stdinFd);
    if (typeof stderrFd === 'number') closeSync(stderrFd);
    const probe = memoryProbe(child.pid);
    if (stdinFile && stdinMode === 'pipe') {
      pipeline(createReadStream(stdinFile, { highWaterMark: 1 << 16 }), child.stdin).catch(() => undefined);
    }
    const lines = [];
    const rl = createInterface({ input: child.stdout, crlfDelay: Infinity });
    rl.on('line', (line) => {
      const at = (performance.now() - started) / 1000;
      if (onLine) onLine(line, at);
      else lines.push(line);
    });
    child.on('error', (err) => {
      probe.stop();
      reject(err);
    });
    child.on('close', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      probe.stop();
      resolvePromise({ code, signal, seconds, lines, probe });
    });
  });
}

/** Starts `cli.js emulator --port 0` and resolves once it prints its URL on stderr. */
function startEmulator(dataTmp, profileDir) {
  return new Promise((resolvePromise, reject) => {
    mkdirSync(dataTmp, { recursive: true });
    const args = [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-name=emulator.cpuprofile'] : []),
      CLI,
      'emulator',
      '--port',
      '0',
      '--processing-ms',
      '0',
      '--api-key',
      API_KEY,
    ];
    // The emulator keeps its batches in a fresh mkdtemp under os.tmpdir(): point that at the bench's temp dir.
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: dataTmp },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    const timeout = setTimeout(() => reject(new Error(`emulator did not start within 15 s: ${stderr}`)), 15_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m && !child.url) {
        child.url = m[1];
        clearTimeout(timeout);
        resolvePromise(child);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timeout);
      if (!child.url) reject(new Error(`emulator exited with ${code}: ${stderr}`));
    });
  });
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------- checks

const sqlString = (s) => `'${s.replace(/'/g, "''")}'`;

async function duckQuery(sql) {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS();
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Counts the connector's rows with DuckDB: every input record must be exactly one succeeded row. */
async function verifyOutput(destination, n) {
  const glob = join(destination, 'default', STREAM, '**', '*.parquet');
  const [row] = await duckQuery(
    `SELECT count(*)::BIGINT AS rows, count(DISTINCT id)::BIGINT AS ids, count(*) FILTER (WHERE _claude_status = 'succeeded')::BIGINT AS succeeded,
            min(seq)::BIGINT AS min_seq, max(seq)::BIGINT AS max_seq, count(DISTINCT filename)::BIGINT AS files
     FROM read_parquet(${sqlString(glob)}, hive_partitioning = true, filename = true)`,
  );
  const r = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v)]));
  const problems = [];
  if (r.rows !== n) problems.push(`${r.rows} rows, expected ${n}`);
  if (r.ids !== n) problems.push(`${r.ids} distinct ids, expected ${n}`);
  if (r.succeeded !== n) problems.push(`${r.succeeded} succeeded rows, expected ${n}`);
  if (r.min_seq !== 0 || r.max_seq !== n - 1)
    problems.push(`seq range ${r.min_seq}..${r.max_seq}, expected 0..${n - 1}`);
  return { ...r, ok: problems.length === 0, problems };
}

function dirBytes(path) {
  let total = 0;
  if (!existsSync(path)) return 0;
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const p = join(path, entry.name);
    if (entry.isDirectory()) total += dirBytes(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}

// ---------------------------------------------------------------------------------------------- runs

async function baselineParse(input, n) {
  const r = await runChild(process.execPath, [join(BENCH, 'baseline-parse.mjs'), input]);
  const out = JSON.parse(r.lines.at(-1) ?? '{}');
  const ok = r.code === 0 && out.records === n;
  return {
    seconds: r.seconds,
    rps: n / r.seconds,
    peakRssMb: r.probe.lastHwmKb / 1024,
    ok,
    detail: ok ? '' : `exit ${r.code}, records ${out.records}`,
  };
}

async function baselineDuckdb(input, workdir, n) {
  const output = join(workdir, 'duckdb-baseline.parquet');
  const r = await runChild(process.execPath, [join(BENCH, 'baseline-duckdb.mjs'), input, output]);
  const out = JSON.parse(r.lines.at(-1) ?? '{}');
  const ok = r.code === 0 && out.rows === n;
  const bytes = existsSync(output) ? statSync(output).size : 0;
  rmSync(output, { force: true });
  return {
    seconds: r.seconds,
    rps: n / r.seconds,
    peakRssMb: r.probe.lastHwmKb / 1024,
    parquetMb: bytes / 1e6,
    ok,
    detail: ok ? '' : `exit ${r.code}, rows ${out.rows}`,
  };
}

async function runConnector({ input, catalogPath, workdir, n, batch, inputBytes }) {
  const tag = `n${n}-b${batch}`;
  const destination = join(workdir, `dest-${tag}`);
  const profileDir = PROFILE_DIR ? join(PROFILE_DIR, tag) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const emulator = await startEmulator(join(workdir, `emulator-${tag}`), profileDir);
  const emulatorCpu0 = procCpuSeconds(emulator.pid) ?? 0;
  const emulatorProbe = memoryProbe(emulator.pid);
  const configPath = join(workdir, `config-${tag}.json`);
  writeFileSync(
    configPath,
    JSON.stringify(
      {
        api_key: API_KEY,
        base_url: emulator.url,
        destination_path: destination,
        model: 'claude-haiku-4-5',
        prompt_template: PROMPT,
        max_tokens: 64,
        max_requests_per_batch: batch,
        poll_interval_seconds: 0.05,
        progress_interval_seconds: 3600,
        // BENCH_CONFIG='{"result_cache":{"enabled":false}}' overrides settings for experiments.
        ...JSON.parse(process.env.BENCH_CONFIG ?? '{}'),
      },
      null,
      2,
    ),
  );
  const statsFile = join(workdir, `stats-${tag}.json`);
  const timeline = {
    firstSubmitted: undefined,
    lastSubmitted: undefined,
    lastWritten: undefined,
    batchesSubmitted: 0,
    batchesWritten: 0,
  };
  const counts = {
    sourceStates: 0,
    lastCursor: undefined,
    stateRecords: 0,
    runStates: 0,
    logs: 0,
    traces: 0,
    other: 0,
  };
  let traceError;
  const stdoutLog = [];
  const onLine = (line, at) => {
    stdoutLog.push(`${at.toFixed(3)}\t${line.length > 2000 ? line.slice(0, 2000) + '…' : line}`);
    let m;
    try {
      m = JSON.parse(line);
    } catch {
      counts.other++;
      return;
    }
    if (m.type === 'STATE') {
      if (m.state?.stream?.stream_descriptor?.name === STREAM) {
        // The connector may fold several released source STATEs into one (the latest, with summed counts).
        counts.sourceStates++;
        counts.lastCursor = m.state.stream.stream_state?.cursor;
        counts.stateRecords += Number(m.state.destinationStats?.recordCount ?? m.state.sourceStats?.recordCount ?? 0);
      } else counts.runStates++;
    } else if (m.type === 'LOG') {
      counts.logs++;
      const msg = m.log?.message ?? '';
      if (/^batch #\d+ submitted as /.test(msg)) {
        timeline.batchesSubmitted++;
        timeline.firstSubmitted ??= at;
        timeline.lastSubmitted = at;
      } else if (/^batch #\d+ written: /.test(msg)) {
        timeline.batchesWritten++;
        timeline.lastWritten = at;
      }
    } else if (m.type === 'TRACE') {
      counts.traces++;
      if (m.trace?.type === 'ERROR') traceError = m.trace.error?.message;
    } else counts.other++;
  };
  const nodeArgs = [
    '-r',
    join(BENCH, 'peak-rss.cjs'),
    // No fixed name: the connector has a Parquet output thread, and each thread writes its own profile
    // (CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile), renamed by thread below.
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    // The connector's V8 old-space limit: by default the one the Docker image starts it with; BENCH_CONNECTOR_HEAP_MB
    // sets another (0: Node's own default, several GB here), to see what the limit does to RSS and speed.
    ...(connectorHeapMb() ? [`--max-old-space-size=${connectorHeapMb()}`] : []),
    // BENCH_NODE_ARGS: any other Node/V8 flags for the connector alone (space-separated), e.g. GC tuning trials.
    ...(process.env.BENCH_NODE_ARGS ? process.env.BENCH_NODE_ARGS.split(/\s+/).filter(Boolean) : []),
    CLI,
    'write',
    '--config',
    configPath,
    '--catalog',
    catalogPath,
  ];
  const stderrFile = join(workdir, `stderr-${tag}.txt`);
  let r;
  try {
    r = await runChild(process.execPath, nodeArgs, {
      stdinFile: input,
      stdinMode: opts.stdin,
      env: { BENCH_STATS_FILE: statsFile },
      onLine,
      stderrFile,
    });
  } finally {
    emulatorProbe.stop();
  }
  writeFileSync(join(workdir, `stdout-${tag}.txt`), stdoutLog.join('\n') + '\n');
  const loadAfter = loadavg()[0];
  const emulatorCpu = (procCpuSeconds(emulator.pid) ?? emulatorCpu0) - emulatorCpu0;
  const emulatorHwm = procStatus(emulator.pid)?.hwmKb ?? emulatorProbe.lastHwmKb;
  await stopChild(emulator);
  const stats = existsSync(statsFile) ? JSON.parse(readFileSync(statsFile, 'utf8')) : {};
  const problems = [];
  if (r.code !== 0) problems.push(`exit code ${r.code ?? r.signal}${traceError ? `: ${traceError}` : ''}`);
  if (counts.lastCursor !== n - 1 || counts.stateRecords !== n) {
    problems.push(
      `source STATEs echoed up to cursor ${counts.lastCursor} covering ${counts.stateRecords} records, expected ${n - 1} and ${n}`,
    );
  }
  let verify = { ok: false, problems: [] };
  if (r.code === 0) verify = await verifyOutput(destination, n);
  problems.push(...verify.problems);
  if (r.code !== 0) {
    const tail = existsSync(stderrFile) ? readFileSync(stderrFile, 'utf8').split('\n').slice(-15).join('\n') : '';
    process.stderr.write(`connector run ${tag} failed:\n${tail}\n`);
  }
  const parquetBytes = dirBytes(join(destination, 'default'));
  const controlBytes = dirBytes(join(destination, '_claude_batch'));
  if (!opts.keep) rmSync(destination, { recursive: true, force: true });
  const hwmKb = stats.VmHWMKb ?? stats.maxRssKb ?? r.probe.lastHwmKb;
  return {
    tag,
    n,
    batch,
    ok: problems.length === 0,
    problems,
    seconds: r.seconds,
    rps: n / r.seconds,
    mbps: inputBytes / 1e6 / r.seconds,
    peakRssMb: hwmKb / 1024,
    polledRssMb: r.probe.maxRssKb / 1024,
    polledSamples: r.probe.samples,
    heap: stats.peak,
    cpuSeconds: stats.userCpuMs !== undefined ? (stats.userCpuMs + stats.systemCpuMs) / 1000 : undefined,
    userCpuSeconds: stats.userCpuMs !== undefined ? stats.userCpuMs / 1000 : undefined,
    emulatorCpuSeconds: emulatorCpu,
    emulatorPeakRssMb: emulatorHwm / 1024,
    loadAfter,
    timeline,
    counts,
    parquetMb: parquetBytes / 1e6,
    controlMb: controlBytes / 1e6,
    verify,
    profileDir,
  };
}

// ---------------------------------------------------------------------------------------------- report

const fmt = (v, digits = 0) =>
  v === undefined || Number.isNaN(v)
    ? '–'
    : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const nLabel = (n) =>
  n >= 1e6 && n % 1e6 === 0 ? `${n / 1e6}M` : n >= 1e3 && n % 1e3 === 0 ? `${n / 1e3}k` : String(n);

function machine() {
  let nproc = String(cpus().length);
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // os.cpus() count
  }
  let commit = '';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync(
      'git',
      ['status', '--porcelain', '--', 'connector', 'spec', 'package.json', 'package-lock.json'],
      { cwd: ROOT, encoding: 'utf8' },
    ).trimEnd();
    if (dirty)
      commit += ` + uncommitted changes in ${[...new Set(dirty.split('\n').map((l) => l.slice(3).split('/')[0].replace(/"/g, '')))].join(', ')}`;
  } catch {
    // not a checkout
  }
  return {
    date: new Date().toISOString(),
    node: process.version,
    nproc,
    cpu: cpus()[0]?.model ?? '?',
    memGb: totalmem() / 2 ** 30,
    commit,
    load: loadavg(),
  };
}

/** The connector's --max-old-space-size (0: none), as the Docker image sets it unless BENCH_CONNECTOR_HEAP_MB says otherwise. */
function connectorHeapMb() {
  return process.env.BENCH_CONNECTOR_HEAP_MB !== undefined
    ? Number(process.env.BENCH_CONNECTOR_HEAP_MB)
    : RECOMMENDED_HEAP_MB;
}

function summaryTable(rows) {
  const out = [];
  out.push(
    '| N | batch size | connector rec/s | MB/s | peak RSS MB | (a) parse rec/s | (b) DuckDB rec/s | connector/(a) | connector/(b) | wall s | output check |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  );
  for (const { size, a, b, runs } of rows) {
    for (const c of runs) {
      const rps = c.ok ? c.rps : undefined;
      out.push(
        `| ${nLabel(size.n)} | ${fmt(c.batch)} | ${c.ok ? fmt(c.rps) : 'FAILED'} | ${c.ok ? fmt(c.mbps, 1) : '–'} | ${fmt(c.peakRssMb)} | ` +
          `${a?.ok ? fmt(a.rps) : '–'} | ${b?.ok ? fmt(b.rps) : '–'} | ${rps && a?.ok ? fmt(rps / a.rps, 3) : '–'} | ${rps && b?.ok ? fmt(rps / b.rps, 3) : '–'} | ` +
          `${fmt(c.seconds, 1)} | ${c.ok ? `${fmt(c.verify.rows)} rows ok` : c.problems.join('; ')} |`,
      );
    }
  }
  return out.join('\n');
}

function detailTable(rows) {
  const out = [];
  out.push(
    '| N | batch size | input MB | wall s | last batch submitted at s | last batch written at s | batches | source STATEs echoed | connector CPU s (user) | connector CPU µs/rec | emulator CPU s | emulator CPU µs/rec | connector polled max RSS MB | peak JS heap used MB | peak Buffers (arrayBuffers) MB | emulator peak RSS MB | Parquet MB | (a) s | (a) peak RSS MB | (b) s | (b) peak RSS MB | (b) Parquet MB | load avg (1 min) after run |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const { size, a, b, runs } of rows) {
    for (const c of runs) {
      out.push(
        `| ${nLabel(size.n)} | ${fmt(c.batch)} | ${fmt(size.bytes / 1e6, 1)} | ${fmt(c.seconds, 2)} | ${fmt(c.timeline.lastSubmitted, 2)} | ${fmt(c.timeline.lastWritten, 2)} | ` +
          `${c.timeline.batchesWritten} | ${c.counts.sourceStates} of ${size.states} | ${fmt(c.cpuSeconds, 1)} (${fmt(c.userCpuSeconds, 1)}) | ${fmt((c.cpuSeconds * 1e6) / c.n)} | ${fmt(c.emulatorCpuSeconds, 1)} | ${fmt((c.emulatorCpuSeconds * 1e6) / c.n)} | ${fmt(c.polledRssMb)} | ${fmt(c.heap?.heapUsedMb)} | ${fmt(c.heap?.arrayBuffersMb)} | ` +
          `${fmt(c.emulatorPeakRssMb)} | ${fmt(c.parquetMb, 1)} | ${a ? fmt(a.seconds, 2) : '–'} | ${a ? fmt(a.peakRssMb) : '–'} | ${b ? fmt(b.seconds, 2) : '–'} | ${b ? fmt(b.peakRssMb) : '–'} | ${b ? fmt(b.parquetMb, 1) : '–'} | ${fmt(c.loadAfter, 2)} |`,
      );
    }
  }
  return out.join('\n');
}

function targets(rows) {
  const lines = [];
  const runsFor = (n) => rows.find((r) => r.size.n === n)?.runs.filter((c) => c.batch === BATCHES[0]) ?? [];
  const at100k = runsFor(100_000)[0];
  if (at100k) {
    const pass = at100k.ok && at100k.rps >= TARGET_RPS_AT_100K;
    lines.push(
      `- ≥ ${fmt(TARGET_RPS_AT_100K)} records/s end to end at 100k records (batch size ${fmt(at100k.batch)}): ${at100k.ok ? fmt(at100k.rps) : 'FAILED run'} → **${pass ? 'met' : 'missed'}**`,
    );
  }
  const at1m = runsFor(1_000_000)[0];
  if (at1m) {
    const pass = at1m.peakRssMb < TARGET_RSS_MB_AT_1M;
    lines.push(
      `- peak RSS < ${TARGET_RSS_MB_AT_1M} MB at 1M records (batch size ${fmt(at1m.batch)}): ${fmt(at1m.peakRssMb)} MB → **${pass ? 'met' : 'missed'}**`,
    );
  }
  const series = rows.map((r) => runsFor(r.size.n)[0]).filter(Boolean);
  if (series.length > 1) {
    // A run shorter than the pipeline (10k: a few ramp-up batches, never a full batch written while the next is
    // read) sits below the steady state, so growth is judged from 100k up when two such runs exist.
    const steady = series.filter((c) => c.n >= 100_000);
    const judged = steady.length > 1 ? steady : series;
    const first = judged[0];
    const last = judged.at(-1);
    const growth = last.peakRssMb / first.peakRssMb;
    lines.push(
      `- peak RSS not growing with N: ${series.map((c) => `${nLabel(c.n)} → ${fmt(c.peakRssMb)} MB`).join(', ')}; ` +
        `${nLabel(first.n)} → ${nLabel(last.n)}: ×${fmt(growth, 2)} for ×${fmt(last.n / first.n)} records → **${growth < 1.25 ? 'flat' : 'grows'}**` +
        (judged !== series ? ` (runs under 100k are below the steady state and not judged)` : ''),
    );
  }
  return lines.join('\n');
}

function renderResults(m, rows, finished) {
  return [
    '# Benchmark results',
    '',
    `Generated by \`npm run bench${process.argv.slice(2).length ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` (bench/run.mjs); overwritten on every run.${finished ? '' : ' **Run still in progress / interrupted: partial results.**'}`,
    '',
    `- date: ${m.date}`,
    `- node: ${m.node}; nproc: ${m.nproc} (${m.cpu}); memory: ${fmt(m.memGb, 1)} GiB; commit: ${m.commit || '?'}`,
    `- load average when the run started (1/5/15 min): ${m.load.map((l) => l.toFixed(2)).join(' / ')}${m.load[0] > 0.5 ? ' (other work was running on the machine: numbers are pessimistic)' : ''}`,
    `- input: one stream, ~${BODY_BYTES} B of text in \`body\` + id/integer/number/boolean/date-time fields (~1.25 KB per line), a STATE every 10,000 records; stdin from a ${opts.stdin === 'pipe' ? 'pipe' : 'file'}`,
    `- connector: \`node ${connectorHeapMb() ? `--max-old-space-size=${connectorHeapMb()} ` : ''}dist/connector/cli.js write\` (${connectorHeapMb() === RECOMMENDED_HEAP_MB ? 'the heap limit the Docker image starts it with' : connectorHeapMb() ? 'heap limit from BENCH_CONNECTOR_HEAP_MB' : "Node's default heap limit"}) against the emulator (separate process, \`--processing-ms 0\`, requests not kept); ${opts.prompt} prompt (\`${PROMPT.split('\n')[0]} … {{ body }}\`), max_tokens 64, poll 0.05 s, progress every 3600 s, SNAPPY, row groups of 10,000; batches ramp up (\`batch_ramp_up\`, the default: 1,000, 2,000, 4,000, 8,000 requests, then the batch size)`,
    `- the emulator and the connector share the ${m.nproc} cores; DuckDB (b) uses all of them on its own`,
    "- rec/s and MB/s are input records (bytes, 10^6) over the wall time from spawning the process to its exit; peak RSS is the process's VmHWM at exit (the kernel's high-water mark)",
    '',
    '## Targets',
    '',
    targets(rows) || '- (no 100k or 1M run)',
    '',
    '## Results',
    '',
    summaryTable(rows),
    '',
    '## Details',
    '',
    detailTable(rows),
    '',
    '"last batch submitted at" / "written at": seconds after spawn when the connector logged its last `batch #k submitted` / `batch #k written`.',
    'CPU seconds above wall seconds mean both cores were busy; connector + emulator CPU against 2 × wall shows how much of the machine was left idle.',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------- main

async function main() {
  const m = machine();
  const workdir = mkdtempSync(join(tmpdir(), 'claude-batch-bench-'));
  const catalogPath = join(workdir, 'catalog.json');
  await writeCatalog(catalogPath);
  mkdirSync(dirname(RESULTS), { recursive: true });
  process.stderr.write(
    `bench: node ${m.node}, nproc ${m.nproc}, work dir ${workdir}${PROFILE_DIR ? `, profiles in ${PROFILE_DIR}` : ''}\n`,
  );
  const rows = [];
  const cleanup = () => {
    if (!opts.keep) rmSync(workdir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    for (const n of SIZES) {
      const input = join(workdir, `input-${n}.jsonl`);
      let t = performance.now();
      const gen = await generateInput(input, n, { bodyBytes: BODY_BYTES });
      process.stderr.write(
        `bench: N=${nLabel(n)}: generated ${fmt(gen.bytes / 1e6, 1)} MB, ${gen.states} STATE messages in ${fmt((performance.now() - t) / 1000, 1)} s\n`,
      );
      const size = { n, bytes: gen.bytes, states: gen.states };
      const row = { size, runs: [] };
      rows.push(row);
      if (!opts['no-baselines']) {
        row.a = await baselineParse(input, n);
        process.stderr.write(
          `bench: N=${nLabel(n)}: (a) parse ${fmt(row.a.rps)} rec/s in ${fmt(row.a.seconds, 2)} s${row.a.ok ? '' : ` FAILED ${row.a.detail}`}\n`,
        );
        row.b = await baselineDuckdb(input, workdir, n);
        process.stderr.write(
          `bench: N=${nLabel(n)}: (b) DuckDB ${fmt(row.b.rps)} rec/s in ${fmt(row.b.seconds, 2)} s${row.b.ok ? '' : ` FAILED ${row.b.detail}`}\n`,
        );
      }
      for (const batch of BATCHES) {
        t = performance.now();
        const c = await runConnector({ input, catalogPath, workdir, n, batch, inputBytes: gen.bytes });
        row.runs.push(c);
        process.stderr.write(
          `bench: N=${nLabel(n)} batch=${batch}: connector ${c.ok ? `${fmt(c.rps)} rec/s, ${fmt(c.mbps, 1)} MB/s` : `FAILED (${c.problems.join('; ')})`} in ${fmt(c.seconds, 2)} s, ` +
            `peak RSS ${fmt(c.peakRssMb)} MB (polled max ${fmt(c.polledRssMb)}), CPU ${fmt(c.cpuSeconds, 1)} s + emulator ${fmt(c.emulatorCpuSeconds, 1)} s\n`,
        );
        if (c.profileDir) {
          for (const file of readdirSync(c.profileDir)) {
            const tid = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file)?.[1];
            if (tid !== undefined)
              renameSync(
                join(c.profileDir, file),
                join(c.profileDir, tid === '0' ? 'connector.cpuprofile' : `connector-thread-${tid}.cpuprofile`),
              );
          }
          const parts = [];
          for (const file of readdirSync(c.profileDir)
            .filter((f) => f.endsWith('.cpuprofile'))
            .sort()) {
            parts.push(
              formatSummary(
                `${c.tag}: ${file}`,
                summarise(JSON.parse(readFileSync(join(c.profileDir, file), 'utf8'))),
                30,
              ),
            );
          }
          writeFileSync(join(c.profileDir, 'summary.md'), parts.join('\n'));
          process.stderr.write(`bench: profile summary in ${join(c.profileDir, 'summary.md')}\n`);
        }
        writeFileSync(RESULTS, renderResults(m, rows, false));
      }
      if (!opts.keep) rmSync(input, { force: true });
    }
    const text = renderResults(m, rows, true);
    writeFileSync(RESULTS, text);
    process.stdout.write('\n' + text.slice(text.indexOf('## Targets')) + '\n');
    process.stderr.write(`bench: results written to ${RESULTS}\n`);
    const failed = rows.some((r) => r.runs.some((c) => !c.ok) || (r.a && !r.a.ok) || (r.b && !r.b.ok));
    process.exitCode = failed ? 1 : 0;
  } finally {
    cleanup();
  }
}

await main();
