#!/usr/bin/env node
// The entry point only installs write's stop handlers, then loads the CLI: a SIGTERM that arrives while the
// modules load (seconds on a loaded machine) must still end in a TRACE, never in death by signal.
import { installStopHandlers } from './common/stop.js';

if (process.argv[2] === 'write') installStopHandlers();
await import('./cli-main.js');
