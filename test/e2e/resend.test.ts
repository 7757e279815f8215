// Guards "exactly one row per input record" for both ways a platform re-sends after a failed attempt (from
// the last STATE it received, or everything) and for kills at the instants that decide which STATEs it
// received: after a STATE reached stdout, and between the journal's `state_emitted` and stdout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paidTwice, startEmulator, type RunningEmulator } from '../../emulator/index.js';
import { traceErrors } from '../helpers/cli.js';
import { destinationSetup, expectEachIdOnce, freshInputs, resendAfterLastState } from '../helpers/resume.js';

let emu: RunningEmulator;
beforeAll(async () => {
  emu = await startEmulator({ apiKeys: ['test-key'] });
});
afterAll(() => emu.close());

const fresh = freshInputs('rs');
const notesStates = (messages: Array<Record<string, any>>) =>
  messages.filter((m) => m.type === 'STATE' && m.state.stream?.stream_descriptor?.name === 'notes');

/** Runs a write that is SIGKILLed right after its n-th STATE for "notes" reached stdout. */
async function killedAfterState(write: ReturnType<typeof destinationSetup>['write'], input: string[], n: number) {
  let seen = 0;
  const first = await write(input, {
    onMessage: (m, child) => {
      if (m.type === 'STATE' && m.state.stream?.stream_descriptor?.name === 'notes' && ++seen === n)
        child.kill('SIGKILL');
    },
  });
  expect(first.signal, first.stderr).toBe('SIGKILL');
  return first;
}

async function expectOnceAndPaidOnce(destination: string, ids: string[]) {
  const rows = await expectEachIdOnce(destination, ids);
  const twice = paidTwice(emu.submissionLog());
  expect(rows.map((r) => String(r.custom_id)).filter((id) => twice.has(id))).toEqual([]);
}

describe('re-sent input after a kill', () => {
  it('killed after 2 of 3 STATEs went out, then the whole input is sent again: each record is one row (issue 14 a)', async () => {
    const { destination, write } = destinationSetup(emu);
    const { input, ids } = fresh();
    await killedAfterState(write, input, 2);
    const second = await write(input);
    expect(second.code, second.stderr).toBe(0);
    expect(traceErrors(second.messages)).toEqual([]);
    await expectOnceAndPaidOnce(destination, ids);
  });

  it('killed after 2 of 3 STATEs went out, then re-sent after the last one: each record is one row', async () => {
    const { destination, write } = destinationSetup(emu);
    const { input, ids } = fresh();
    const first = await killedAfterState(write, input, 2);
    const second = await write(resendAfterLastState(input, first.messages));
    expect(second.code, second.stderr).toBe(0);
    await expectOnceAndPaidOnce(destination, ids);
  });

  it.each([1, 2])(
    'killed between journaling STATE %i and writing it to stdout, then re-sent after the last STATE seen: each record is one row (issue 14 b)',
    async (n) => {
      const { destination, write } = destinationSetup(emu);
      const { input, ids } = fresh();
      const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: `after_state_journaled:${n}` } });
      expect(first.signal, first.stderr).toBe('SIGKILL');
      expect(notesStates(first.messages)).toHaveLength(n - 1);
      const second = await write(resendAfterLastState(input, first.messages));
      expect(second.code, second.stderr).toBe(0);
      await expectOnceAndPaidOnce(destination, ids);
    },
  );

  it('killed between journaling a STATE and stdout, then the whole input is sent again: each record is one row', async () => {
    const { destination, write } = destinationSetup(emu);
    const { input, ids } = fresh();
    const first = await write(input, { env: { CLAUDE_BATCH_FAILPOINT: 'after_state_journaled:2' } });
    expect(first.signal, first.stderr).toBe('SIGKILL');
    const second = await write(input);
    expect(second.code, second.stderr).toBe(0);
    await expectOnceAndPaidOnce(destination, ids);
  });
});
