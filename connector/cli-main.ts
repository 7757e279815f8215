import { Command, CommanderError } from 'commander';
import { asConnectorError, configError, redact } from './common/errors.js';
import { MessageWriter } from './protocol/writer.js';
import { specCommand } from './commands/spec.js';
import { checkCommand } from './commands/check.js';
import { writeCommand } from './commands/write.js';
import {
  EmulatorOptionsError,
  runEmulatorCommand,
  withEmulatorOptions,
  type EmulatorCommandOptions,
} from '../emulator/cli.js';
import { statusCommand } from './commands/status.js';
import { cancelCommand } from './commands/cancel.js';
import { estimateCommand } from './commands/estimate.js';

const writer = new MessageWriter(process.stdout);

/** Any failure ends as an Airbyte TRACE error on stdout plus a non-zero exit; secrets are redacted. */
async function guarded(action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
  } catch (err) {
    const e = asConnectorError(err);
    const cause = e.cause instanceof Error ? `${e.cause.name}: ${e.cause.message}` : undefined;
    await writer.traceError(
      redact(e.message),
      e.failureType,
      cause && redact(`${e.code}: ${cause}`),
      redact(e.stack ?? ''),
    );
    process.exitCode = 1;
  }
}

const program = new Command()
  .name('destination-claude-batch')
  .description('Airbyte destination: enrich records with Claude through the Message Batches API, write Parquet')
  .showHelpAfterError()
  // Usage errors throw (instead of exiting) so they end with a TRACE like every other failure.
  .exitOverride();

program
  .command('spec')
  .description('print the ConnectorSpecification')
  .action(() => guarded(() => specCommand(writer)));

program
  .command('check')
  .description('validate the config and prove the API key, model and destination work')
  .requiredOption('--config <file>', 'config JSON')
  .action((o: { config: string }) => guarded(() => checkCommand(o.config, writer)));

program
  .command('write')
  .description('read Airbyte messages on stdin, enrich records through batches, write Parquet')
  .requiredOption('--config <file>', 'config JSON')
  .requiredOption('--catalog <file>', 'ConfiguredAirbyteCatalog JSON')
  .option('--state <file>', 'state JSON handed back by the orchestrator')
  .action((o: { config: string; catalog: string; state?: string }) =>
    guarded(() => writeCommand(o, process.stdin, writer)),
  );

program
  .command('estimate')
  .description(
    'dry run: read stdin as write would and print what would be sent and its estimated cost; submits nothing',
  )
  .requiredOption('--config <file>', 'config JSON')
  .requiredOption('--catalog <file>', 'ConfiguredAirbyteCatalog JSON')
  .action((o: { config: string; catalog: string }) => guarded(() => estimateCommand(o, process.stdin)));

program
  .command('status')
  .description("show the destination's runs: phase, batches written, batches still processing (journal + API)")
  .requiredOption('--config <file>', 'config JSON')
  .option('--run <id>', 'only this run')
  .option('--json', 'print JSON instead of text')
  .action((o: { config: string; run?: string; json?: boolean }) => guarded(() => statusCommand(o)));

program
  .command('cancel')
  .description(
    "cancel an unfinished run's batches at the API; the next write collects what finished and resubmits nothing",
  )
  .requiredOption('--config <file>', 'config JSON')
  .option('--run <id>', 'only this run (default: every unfinished run)')
  .action((o: { config: string; run?: string }) => guarded(() => cancelCommand(o)));

// The emulator is its own module (emulator/, with its own entry point); the image keeps it so a platform user
// can try a connection offline, for free.
withEmulatorOptions(program.command('emulator').description('serve the local Message Batches API emulator')).action(
  (o: EmulatorCommandOptions) =>
    guarded(async () => {
      try {
        await runEmulatorCommand(o);
      } catch (err) {
        throw err instanceof EmulatorOptionsError ? configError('EMULATOR_OPTIONS', err.message) : err;
      }
    }),
);

/**
 * A usage error (unknown command or option, missing --config): commander has printed what went wrong and the
 * usage to stderr; the platform also gets a config_error TRACE on stdout, and the exit code is non-zero.
 */
async function usageError(err: CommanderError): Promise<void> {
  process.exitCode = err.exitCode;
  if (err.exitCode === 0) return; // --help
  const what = err.code === 'commander.help' ? 'no command given' : err.message.replace(/^error: /, '');
  await writer.traceError(
    `usage: ${what}; run with --help for the commands and their options`,
    'config_error',
    err.code,
  );
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (!(err instanceof CommanderError)) throw err;
  await usageError(err);
}
