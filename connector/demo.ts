/**
 * `npm run demo`: pipes samples/messages.jsonl through the built CLI's `write` on the embedded emulator,
 * exactly as a platform would (a child process over stdin/stdout), then says where the Parquet went.
 */
import { spawn } from 'node:child_process';
import { createReadStream, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import parquet from 'parquetjs-lite';
import type { RunManifest } from './sinks/manifest.js';
import { CONTROL_DIR } from './sinks/layout.js';
import { RECOMMENDED_HEAP_MB } from './common/heap.js';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const samples = join(repo, 'samples');
const config = JSON.parse(readFileSync(join(samples, 'config.json'), 'utf8')) as { destination_path: string };
const destination = resolve(repo, config.destination_path);

// Each demo run is a sync of its own, as each sync on a platform is: a fresh sync_id (the samples' catalog has
// one fixed id, and a run with a completed run's sync_id takes the same records as re-sent, writing no rows).
const catalog = JSON.parse(readFileSync(join(samples, 'catalog.json'), 'utf8')) as {
  streams: Array<{ sync_id?: number }>;
};
for (const s of catalog.streams) s.sync_id = Date.now();
const scratch = mkdtempSync(join(tmpdir(), 'claude-batch-demo-'));
const catalogPath = join(scratch, 'catalog.json');
writeFileSync(catalogPath, JSON.stringify(catalog));

const child = spawn(
  process.execPath,
  // Node started as the Docker image starts it.
  [
    `--max-old-space-size=${RECOMMENDED_HEAP_MB}`,
    join(repo, 'dist/connector/cli.js'),
    'write',
    '--config',
    join(samples, 'config.json'),
    '--catalog',
    catalogPath,
  ],
  { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] },
);
createReadStream(join(samples, 'messages.jsonl')).pipe(child.stdin);

let states = 0;
let failure: string | undefined;
for await (const line of createInterface({ input: child.stdout })) {
  const message = JSON.parse(line) as {
    type: string;
    log?: { message: string };
    trace?: { error?: { message: string } };
    state?: { stream?: { stream_descriptor?: { name?: string } } };
  };
  // Source STATEs echoed back (our own run STATE, stream _claude_batch_run, is not one of them).
  if (message.type === 'STATE' && message.state?.stream?.stream_descriptor?.name !== '_claude_batch_run') states++;
  else if (message.type === 'LOG') console.log(`  log: ${message.log!.message}`);
  else if (message.type === 'TRACE' && message.trace?.error) failure = message.trace.error.message;
}
const code: number = await new Promise((r) => child.on('close', (c) => r(c ?? 1)));
rmSync(scratch, { recursive: true, force: true });
if (code !== 0) {
  console.error(`demo failed (exit ${code}): ${failure ?? 'see the messages above'}`);
  process.exit(code);
}

const runsDir = join(destination, CONTROL_DIR, 'runs');
const latest = readdirSync(runsDir).sort().at(-1)!;
const manifest = JSON.parse(readFileSync(join(runsDir, latest, 'manifest.json'), 'utf8')) as RunManifest;

console.log(
  `\nRun ${manifest.run_id}: ${manifest.records_in} records in, ${manifest.rows_out} rows out, ${manifest.batches.filter((b) => b.batch_id).length} batches, ${states} STATE messages echoed`,
);
console.log(
  `Tokens: ${manifest.tokens.input} in, ${manifest.tokens.output} out (cache reads ${manifest.tokens.cache_read}, writes ${manifest.tokens.cache_write})`,
);
if (manifest.cost.priced) {
  console.log(
    `Estimated cost: $${manifest.cost.batch_usd} at batch prices for ${manifest.cost.billed_requests} requests ($${manifest.cost.sync_usd} synchronously); ` +
      `${manifest.cost.cached_rows} rows answered from the result cache (run the demo again: everything is cached and nothing is sent)`,
  );
}
for (const s of manifest.streams) {
  console.log(`\n${s.namespace ?? 'default'}.${s.stream}: ${s.rows} rows ${JSON.stringify(s.by_status)}`);
  console.log(`  ${relative(repo, dirname(s.files[0]!))}/ (${s.files.length} Parquet files)`);
  const reader = await parquet.ParquetReader.openFile(s.files[0]!);
  const cursor = reader.getCursor();
  for (let i = 0; i < 3; i++) {
    const row = await cursor.next();
    if (!row) break;
    console.log(
      `  ${String(row.id).padEnd(10)} ${String(row.title).slice(0, 48).padEnd(48)} → ${String(row._claude_output)}`,
    );
  }
  await reader.close();
}
console.log(`\nManifest: ${relative(repo, join(runsDir, latest, 'manifest.json'))}`);
console.log(
  `Query it: duckdb -c "SELECT doc_type, _claude_output, count(*) FROM read_parquet('${relative(repo, destination)}/**/*.parquet', hive_partitioning=true) GROUP BY ALL"`,
);
