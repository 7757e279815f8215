#!/usr/bin/env node
// The emulator's own entry point: `node dist/emulator/main.js --port 4010`. The connector's CLI offers the same
// server as its `emulator` subcommand and starts it in-process for `base_url: "emulator"`.
import { Command } from 'commander';
import { EmulatorOptionsError, runEmulatorCommand, withEmulatorOptions, type EmulatorCommandOptions } from './cli.js';

const program = withEmulatorOptions(
  new Command().name('claude-batches-emulator').description('a local Message Batches API server'),
);
program.action(async (options: EmulatorCommandOptions) => {
  try {
    await runEmulatorCommand(options);
  } catch (err) {
    if (!(err instanceof EmulatorOptionsError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exitCode = 2;
  }
});
await program.parseAsync(process.argv);
