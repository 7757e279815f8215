// Baseline (a), the lower bound: stream the input file and JSON.parse every line, nothing else.
// Usage: node bench/baseline-parse.mjs <file.jsonl>   → prints {"lines":…, "records":…} on stdout.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const lines = createInterface({
  input: createReadStream(process.argv[2], { highWaterMark: 1 << 20 }),
  crlfDelay: Infinity,
});
let count = 0;
let records = 0;
for await (const line of lines) {
  if (!line) continue;
  const message = JSON.parse(line);
  count++;
  if (message.type === 'RECORD') records++;
}
process.stdout.write(JSON.stringify({ lines: count, records }) + '\n');
