#!/usr/bin/env node
// Summarises V8 .cpuprofile files (from node --cpu-prof): self time by function and by module
// (package or connector source file), as a share of the sampled time.
// Usage: node bench/profile-summary.mjs <file.cpuprofile | dir> [--top 25]
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a frame's code lives: a connector file, an npm package, node internals, GC, or idle. */
export function moduleOf(url, functionName) {
  if (!url) {
    if (functionName === '(garbage collector)') return '(garbage collector)';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return '(program: native/VM)';
    return '(native)';
  }
  if (url.startsWith('node:')) return url;
  let path = url;
  try {
    if (url.startsWith('file:')) path = fileURLToPath(url);
  } catch {
    // keep the url
  }
  const nm = path.lastIndexOf(`node_modules${sep}`);
  if (nm !== -1) {
    const rest = path.slice(nm + 'node_modules/'.length).split(sep);
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const dist = path.indexOf(`${sep}dist${sep}`);
  if (dist !== -1) return path.slice(dist + 1);
  const bench = path.indexOf(`${sep}bench${sep}`);
  if (bench !== -1) return path.slice(bench + 1);
  return path;
}

/** What the connector is doing in a sample, by the first of these functions found on its stack (innermost first). */
const PHASES = [
  [/^(writeBatchOutput|commit|finish|publish)$/, 'write Parquet'],
  [/^(indexResults|classify|customIdsOf)$/, 'index results'],
  [/^downloadResults$/, 'download results'],
  [/^(waitUntilEnded|retrieve)$/, 'poll'],
  [/^(submitBatch|readRequests|submit)$/, 'create batch'],
  [/^seal(OpenBatch)?$/, 'seal (fsync)'],
  [/^(readInput|addRecord|readLines|parseMessage)$/, 'read + spool input'],
  [/^(handle|create|decide|finalize|streamResults|results)$/, 'emulator request'],
];

/** Self time per function and per module of one profile. */
export function summarise(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map();
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, deltas[i] ?? 0));
  }
  const fns = new Map();
  const modules = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    const cf = node.callFrame;
    const name = cf.functionName || '(anonymous)';
    const mod = moduleOf(cf.url, cf.functionName);
    total += us;
    if (mod === '(idle)') {
      idle += us;
      continue;
    }
    const key = `${name} ${mod}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
  }
  const busy = total - idle;
  // Inclusive ("total") time: each sample counts once for every distinct function on its stack.
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclusive = new Map();
  for (const [id, us] of selfUs) {
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const cf = byId.get(at).callFrame;
      const mod = moduleOf(cf.url, cf.functionName);
      if (mod === '(idle)' || mod === '(program: native/VM)' || mod === '(garbage collector)' || !cf.url) continue;
      const key = `${cf.functionName || '(anonymous)'} ${mod}:${cf.lineNumber + 1}`;
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  // Timeline: per bucket of wall time, how busy the process was and in which phase.
  const bucketUs = 500_000;
  const timeline = [];
  let t = 0;
  const phaseOf = new Map();
  const phaseFor = (id) => {
    if (phaseOf.has(id)) return phaseOf.get(id);
    let phase;
    const own = byId.get(id).callFrame;
    if (own.functionName === '(idle)') phase = 'idle';
    else if (own.functionName === '(garbage collector)') phase = 'GC';
    for (let at = id; at !== undefined && !phase; at = parent.get(at)) {
      const name = byId.get(at).callFrame.functionName;
      for (const [re, label] of PHASES)
        if (re.test(name) && byId.get(at).callFrame.url.includes('/dist/')) phase = label;
    }
    phase ??= 'other';
    phaseOf.set(id, phase);
    return phase;
  };
  for (let i = 0; i < profile.samples.length; i++) {
    t += Math.max(0, deltas[i] ?? 0);
    const b = Math.floor(t / bucketUs);
    while (timeline.length <= b) timeline.push(new Map());
    const phase = phaseFor(profile.samples[i]);
    const bucket = timeline[b];
    bucket.set(phase, (bucket.get(phase) ?? 0) + Math.max(0, deltas[i] ?? 0));
  }
  const top = (m) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .map(([k, us]) => ({ name: k, ms: us / 1000, pct: busy ? (100 * us) / busy : 0 }));
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    busyMs: busy / 1000,
    functions: top(fns),
    modules: top(modules),
    inclusive: top(inclusive),
    timeline,
    bucketMs: bucketUs / 1000,
  };
}

export function formatSummary(title, s, topN = 25) {
  const lines = [];
  lines.push(`### ${title}`, '');
  lines.push(
    `sampled ${s.totalMs.toFixed(0)} ms, of which idle ${s.idleMs.toFixed(0)} ms; shares below are of the ${s.busyMs.toFixed(0)} ms busy (non-idle) time`,
    '',
  );
  lines.push('| self % | self ms | module |', '| ---: | ---: | --- |');
  for (const m of s.modules.slice(0, topN)) lines.push(`| ${m.pct.toFixed(1)} | ${m.ms.toFixed(0)} | ${m.name} |`);
  lines.push('', '| self % | self ms | function (module:line) |', '| ---: | ---: | --- |');
  for (const f of s.functions.slice(0, topN))
    lines.push(`| ${f.pct.toFixed(1)} | ${f.ms.toFixed(0)} | ${f.name.replace(/\|/g, '\\|')} |`);
  lines.push(
    '',
    "Inclusive (self + callees) time of the connector's own functions:",
    '',
    '| total % | total ms | function (module:line) |',
    '| ---: | ---: | --- |',
  );
  for (const f of s.inclusive.filter((f) => f.name.includes('dist/')).slice(0, topN))
    lines.push(`| ${f.pct.toFixed(1)} | ${f.ms.toFixed(0)} | ${f.name.replace(/\|/g, '\\|')} |`);
  lines.push(
    '',
    `Timeline (${s.bucketMs} ms buckets from the start of the profile): share of each bucket per phase (GC and "other" included; idle = waiting)`,
    '',
  );
  lines.push('| from s | phases |', '| ---: | --- |');
  s.timeline.forEach((bucket, i) => {
    const total = [...bucket.values()].reduce((a, b) => a + b, 0) || 1;
    const parts = [...bucket]
      .sort((a, b) => b[1] - a[1])
      .filter(([, us]) => us / total >= 0.05)
      .map(([p, us]) => `${p} ${((100 * us) / total).toFixed(0)}%`);
    lines.push(`| ${((i * s.bucketMs) / 1000).toFixed(1)} | ${parts.join(', ')} |`);
  });
  lines.push('');
  return lines.join('\n');
}

function profilesIn(path) {
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .filter((f) => f.endsWith('.cpuprofile'))
      .sort()
      .map((f) => join(path, f));
  }
  return [path];
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const topN = topAt === -1 ? 25 : Number(args.splice(topAt, 2)[1]);
  if (!args.length) {
    process.stderr.write('usage: node bench/profile-summary.mjs <file.cpuprofile | dir> [--top 25]\n');
    process.exit(2);
  }
  for (const arg of args) {
    for (const file of profilesIn(arg)) {
      process.stdout.write(formatSummary(file, summarise(JSON.parse(readFileSync(file, 'utf8'))), topN) + '\n');
    }
  }
}
