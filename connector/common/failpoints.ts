/**
 * Crash injection for the resume tests: `CLAUDE_BATCH_FAILPOINT=<name>[:<n>]` makes the process kill
 * itself with SIGKILL the n-th time (default first) it passes the named point — a real, unclean death at
 * an exact step, with no cleanup code run. Unset in normal use, where it costs one env lookup per point.
 */
const setting = process.env.CLAUDE_BATCH_FAILPOINT;
const [target, nth] = (setting ?? '').split(':');
const wanted = Number(nth ?? 1) || 1;
let hits = 0;

export type FailpointName =
  | 'after_seal'
  | 'before_create'
  | 'after_create'
  | 'after_submitted'
  | 'after_download'
  | 'mid_parquet'
  | 'after_file_commit'
  | 'after_finalised'
  | 'after_state_journaled'
  | 'after_run_completed';

export function failpoint(name: FailpointName): void {
  if (!setting || name !== target) return;
  if (++hits === wanted) process.kill(process.pid, 'SIGKILL');
}
