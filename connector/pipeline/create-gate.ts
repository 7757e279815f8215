import { Limiter } from './limiter.js';

/**
 * Where every create of a destination goes through, one at a time. Identity by listing is only sound when
 * at most one create of ours can be in doubt: with two creates in flight, a create that failed after the
 * API made its batch (5xx after effect, a kill) and a sibling's batch of the same size are
 * indistinguishable, and a batch would adopt its sibling's while the sibling created its own again (paid
 * twice). So:
 * - creates are serialised, and a create in doubt keeps the gate until its doubt is settled (listed, then
 *   adopted or created again), so nothing else of ours can be created meanwhile;
 * - a round an earlier process left in doubt (journaled `batch_submitting`, no batch id) is settled before
 *   any fresh create starts: each is registered with inherit() before the first fresh create can ask.
 * A create is mostly an upload on one connection; a second in parallel gained little.
 */
export class CreateGate {
  private readonly limiter = new Limiter(1);
  private readonly inherited = new Set<string>();
  private readonly waiting: Array<() => void> = [];

  /** A round an earlier process left in doubt: fresh creates wait until it is settled (or its task ends). */
  inherit(key: string): void {
    this.inherited.add(key);
  }

  /** The task behind `key` is done with its doubt, settled or not (a failed task fails the whole run). */
  settle(key: string): void {
    if (!this.inherited.delete(key) || this.inherited.size > 0) return;
    for (const wake of this.waiting.splice(0)) wake();
  }

  /** Runs one create (with its reconciliation) alone; fresh ones only once every inherited doubt is settled. */
  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    if (this.inherited.has(key)) {
      try {
        return await this.limiter.run(work);
      } finally {
        this.settle(key);
      }
    }
    while (this.inherited.size > 0) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return this.limiter.run(work);
  }
}
