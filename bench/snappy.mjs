// Micro-benchmark of the connector's Snappy compressor against snappyjs (which it replaced for Parquet
// pages): the same 1 MiB inputs through both, several repetitions, best-of MB/s (10^6 bytes) and sizes.
// Run after `npm run build`: node bench/snappy.mjs [--reps 20]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { snappyCompress } from '../dist/connector/sinks/snappy.js';
import { seededRandom as prng } from '../dist/emulator/random.js';
import { sentencePool } from './generate.mjs';

const snappyjs = createRequire(import.meta.url)('snappyjs');
const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '20' } } });
const REPS = Number(args.reps);
const PAGE_BYTES = 1 << 20;

// Seeded (the emulator's PRNG), so every run compresses the same bytes; texts come from the benchmark's own
// sentence pool, as in its input.
const random = prng(7);
const pick = (list) => list[Math.floor(random() * list.length)];
const pool = sentencePool(random);
function text(length) {
  let s = `Record doc-${String(Math.floor(random() * 1e9)).padStart(9, '0')}.`;
  while (s.length < length) s += ' ' + pick(pool);
  return s;
}
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const id = () => Array.from({ length: 16 }, () => pick(BASE62)).join('');

/** A PLAIN page body as parquet-encoder.ts writes it: each value a 4-byte LE length, then its UTF-8. */
function plainPage(nextValue) {
  const page = Buffer.alloc(PAGE_BYTES);
  let at = 0;
  for (;;) {
    const value = Buffer.from(nextValue());
    if (at + 4 + value.length > PAGE_BYTES) return page.subarray(0, at);
    page.writeUInt32LE(value.length, at);
    value.copy(page, at + 4);
    at += 4 + value.length;
  }
}

const inputs = [
  ['~1 KB texts', plainPage(() => text(1000))],
  ['~150-char summaries', plainPage(() => text(150))],
  ['16-char ids', plainPage(id)],
  ['random bytes', Buffer.from(Array.from({ length: PAGE_BYTES }, () => Math.floor(random() * 256)))],
];

function time(compress, input) {
  const start = process.hrtime.bigint();
  compress(input);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * Best of REPS runs of each, in MB/s, after a few untimed ones for the JIT. The two alternate, so a burst of
 * other work on the machine slows both alike; the best run is the one least disturbed.
 */
function throughputs(input) {
  for (let i = 0; i < 5; i++) {
    snappyjs.compress(input);
    snappyCompress(input);
  }
  let theirs = Infinity;
  let ours = Infinity;
  for (let i = 0; i < REPS; i++) {
    theirs = Math.min(theirs, time(snappyjs.compress, input));
    ours = Math.min(ours, time(snappyCompress, input));
  }
  return [input.length / theirs / 1e6, input.length / ours / 1e6];
}

console.log(`node ${process.version}, best of ${REPS} runs per cell\n`);
console.log(
  '| input | bytes | snappyjs MB/s | ours MB/s | ours/snappyjs | snappyjs size | ours size | size ours/snappyjs |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [name, input] of inputs) {
  const theirs = snappyjs.compress(input);
  const ours = snappyCompress(input);
  if (!Buffer.from(snappyjs.uncompress(ours)).equals(input)) throw new Error(`${name}: our output does not round-trip`);
  const [theirSpeed, ourSpeed] = throughputs(input);
  console.log(
    `| ${name} | ${input.length} | ${theirSpeed.toFixed(0)} | ${ourSpeed.toFixed(0)} | ${(ourSpeed / theirSpeed).toFixed(2)}× ` +
      `| ${theirs.length} | ${ours.length} | ${(ours.length / theirs.length).toFixed(4)} |`,
  );
}
