// Guards the create gate's two rules (issue 14): one create at a time, and a round an earlier process left in
// doubt is settled before any fresh create starts.
import { describe, expect, it } from 'vitest';
import { CreateGate } from '../../connector/pipeline/create-gate.js';

/** A create that finishes when the test says so. */
function pending() {
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return { done, finish };
}

describe('CreateGate', () => {
  it('runs one create at a time, in order', async () => {
    const gate = new CreateGate();
    const log: string[] = [];
    const a = pending();
    const first = gate.run('a', async () => {
      log.push('a starts');
      await a.done;
      log.push('a ends');
    });
    const second = gate.run('b', async () => void log.push('b starts'));
    await Promise.resolve();
    expect(log).toEqual(['a starts']);
    a.finish();
    await Promise.all([first, second]);
    expect(log).toEqual(['a starts', 'a ends', 'b starts']);
  });

  it('holds fresh creates until every inherited doubt is settled, by its create or by its task ending', async () => {
    const gate = new CreateGate();
    const log: string[] = [];
    gate.inherit('old#3');
    gate.inherit('old#5');
    const fresh = gate.run('new#0', async () => void log.push('fresh'));
    const doubt = pending();
    const settling = gate.run('old#3', async () => {
      log.push('old#3 settles');
      await doubt.done;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['old#3 settles']);
    doubt.finish();
    await settling;
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(['old#3 settles']); // old#5 is still in doubt
    gate.settle('old#5'); // its task ended without a create (e.g. a cancelled run)
    await fresh;
    expect(log).toEqual(['old#3 settles', 'fresh']);
  });

  it('settles a doubt whose create failed, so the rest are not held forever', async () => {
    const gate = new CreateGate();
    gate.inherit('old#1');
    const fresh = gate.run('new#0', async () => 'created');
    await expect(gate.run('old#1', async () => Promise.reject(new Error('patience exhausted')))).rejects.toThrow(
      'patience exhausted',
    );
    await expect(fresh).resolves.toBe('created');
  });
});
