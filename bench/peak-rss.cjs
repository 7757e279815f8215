// Preloaded into the connector process by the benchmark (node -r bench/peak-rss.cjs …): when the process exits,
// writes its exact peak RSS (VmHWM from /proc/self/status, and getrusage's maxRSS), its CPU time, and the peaks
// of the JS heap and of Buffer memory (sampled every 50 ms) as JSON to $BENCH_STATS_FILE. It only reads;
// it changes nothing in the connector.
'use strict';
const fs = require('node:fs');
const { isMainThread } = require('node:worker_threads');

const target = process.env.BENCH_STATS_FILE;
// Preloads also run in worker threads (the connector's Parquet output thread): only the main thread reports.
// RSS and CPU time are the whole process's; the heap and Buffer peaks are the main thread's.
if (target && isMainThread) {
  // Peak of each part of memory, sampled every 50 ms: says whether a peak is JS heap or Buffers (external).
  const peak = { rssMb: 0, heapTotalMb: 0, heapUsedMb: 0, externalMb: 0, arrayBuffersMb: 0 };
  const sample = () => {
    const m = process.memoryUsage();
    peak.rssMb = Math.max(peak.rssMb, m.rss / 2 ** 20);
    peak.heapTotalMb = Math.max(peak.heapTotalMb, m.heapTotal / 2 ** 20);
    peak.heapUsedMb = Math.max(peak.heapUsedMb, m.heapUsed / 2 ** 20);
    peak.externalMb = Math.max(peak.externalMb, m.external / 2 ** 20);
    peak.arrayBuffersMb = Math.max(peak.arrayBuffersMb, m.arrayBuffers / 2 ** 20);
  };
  setInterval(sample, 50).unref();
  process.on('exit', (code) => {
    sample();
    const stats = { code, peak };
    try {
      const status = fs.readFileSync('/proc/self/status', 'utf8');
      for (const key of ['VmHWM', 'VmRSS']) {
        const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
        if (m) stats[key + 'Kb'] = Number(m[1]);
      }
    } catch {
      // not Linux: rusage below still has the peak
    }
    const usage = process.resourceUsage();
    stats.maxRssKb = usage.maxRSS;
    stats.userCpuMs = usage.userCPUTime / 1000;
    stats.systemCpuMs = usage.systemCPUTime / 1000;
    try {
      fs.writeFileSync(target, JSON.stringify(stats));
    } catch {
      // the benchmark reports the polled numbers instead
    }
  });
}
