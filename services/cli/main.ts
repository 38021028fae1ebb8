#!/usr/bin/env node
/**
 * `wakegate`: the control API from a terminal. `status`, `wake <id> [--wait]`, `sleep <id> [--force]`,
 * `watch`; `--json` everywhere; `--bridge URL` or WAKEGATE_BRIDGE_URL; the admin token from
 * WAKEGATE_ADMIN_TOKEN or local mode's data folder (target.ts). Exit codes: EXIT in client.ts.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import pc from 'picocolors';
import yoctoSpinner from 'yocto-spinner';
import { asError, type BackendId, parseBackendId, parseDurationMs } from '../shared/index.ts';
import { ApiError, ControlClient, EXIT } from './client.ts';
import { changeLine, state, statusTable, wakeSummary } from './render.ts';
import { BridgeUrlError, resolveTarget } from './target.ts';

interface Common {
  bridge?: string;
  json?: boolean;
}

const out = (line: string) => process.stdout.write(`${line}\n`);
const json = (value: unknown) => out(JSON.stringify(value));

function backendArgument(value: string): BackendId {
  try {
    parseBackendId(value);
    return value;
  } catch (error) {
    throw new InvalidArgumentError(asError(error).message);
  }
}

/** A duration with its unit: a bare `5` would be 5 ms to parseDurationMs, never what a person typing means. */
function durationOption(value: string): number {
  const ms = /^\s*\d+\s*$/.test(value) ? undefined : parseDurationMs(value);
  if (ms === undefined) throw new InvalidArgumentError(`expected a duration such as 90s or 2m, got ${value}`);
  return ms;
}

const program = new Command('wakegate')
  .description("wakegate's control API: see what is asleep, wake or put a backend to sleep, watch changes")
  .addOption(new Option('--bridge <url>', 'the bridge (default: WAKEGATE_BRIDGE_URL, else local mode’s)'))
  .option('--json', 'print the API’s JSON instead of text (one object per line for watch)')
  .showHelpAfterError()
  .exitOverride();

/** The options given before or after the command name. */
const common = (command: Command): Common => command.optsWithGlobals<Common>();
const clientFor = (options: Common) => new ControlClient(resolveTarget(options.bridge));

program
  .command('status')
  .description('every backend with its state, replicas, hosts and last wake')
  .action(async (_options, command: Command) => {
    const options = common(command);
    const backends = await clientFor(options).list();
    if (options.json) json({ backends });
    else out(statusTable(backends, pc));
  });

program
  .command('wake')
  .description('wake a backend (and with --wait, until it is ready, with the timings of its phases)')
  .argument('<backend>', 'namespace/name', backendArgument)
  .option('--wait', 'wait until it is ready')
  .addOption(
    new Option('--timeout <duration>', 'how long --wait waits')
      .argParser(durationOption)
      .default(120_000, '2m'),
  )
  .action(async (id: BackendId, options: { wait?: boolean; timeout: number }, command: Command) => {
    const { json: asJson, bridge } = common(command);
    const client = clientFor({ bridge });
    if (!options.wait) {
      const answer = await client.wake(id);
      if (asJson) json(answer);
      else
        out(
          `${id}: wake sent${answer.duplicate ? ' (one was already under way)' : ''}; ${state(pc, answer.backend.state)}`,
        );
      return;
    }
    // The spinner is for someone watching a terminal (on stderr); the outcome goes to stdout, as every other
    // command's does, and an error to the one line every command's error gets.
    const watched = !asJson && process.stderr.isTTY === true;
    const spinner = watched ? yoctoSpinner({ text: `waking ${id}` }).start() : undefined;
    try {
      const answer = await client.wake(id, options.timeout);
      spinner?.stop();
      if (asJson) json(answer);
      else {
        const line = `${id} is ${state(pc, answer.backend.state)} after ${wakeSummary(answer.backend.lastWake)}`;
        out(process.stdout.isTTY === true ? `${pc.green('✔')} ${line}` : line);
      }
    } catch (error) {
      spinner?.stop();
      throw error;
    }
  });

program
  .command('sleep')
  .description(
    'put a backend (and its group) to sleep now, by the drain protocol (refused while requests are in flight)',
  )
  .argument('<backend>', 'namespace/name', backendArgument)
  .option('--force', 'sleep even with requests in flight; requests during the drain do not cancel it')
  .action(async (id: BackendId, options: { force?: boolean }, command: Command) => {
    const { json: asJson, bridge } = common(command);
    const answer = await clientFor({ bridge }).sleep(id, options.force ?? false);
    if (asJson) json(answer);
    else
      out(
        `${id}: ${answer.outcome === 'asleep' ? 'put to sleep' : 'already asleep'}; ${state(pc, answer.backend.state)}`,
      );
  });

program
  .command('watch')
  .description('print state changes as they happen, until Ctrl-C')
  .action(async (_options, command: Command) => {
    const options = common(command);
    const stop = new AbortController();
    process.once('SIGINT', () => stop.abort());
    process.once('SIGTERM', () => stop.abort());
    for await (const event of clientFor(options).events(stop.signal)) {
      if (options.json) json(event);
      else if (event.event === 'snapshot') out(statusTable(event.backends, pc));
      else out(changeLine(event, pc));
    }
    if (!stop.signal.aborted)
      throw new ApiError('stream_ended', 'the bridge ended the stream', EXIT.unreachable);
  });

try {
  await program.parseAsync();
  process.exitCode = EXIT.ok;
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version are not failures; everything else commander refuses is a usage error.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else if (error instanceof BridgeUrlError) {
    process.stderr.write(`wakegate: ${error.message}\n`);
    process.exitCode = EXIT.usage;
  } else {
    const failure =
      error instanceof ApiError ? error : new ApiError('internal', asError(error).message, EXIT.refused);
    if (common(program).json) json({ error: failure.code, message: failure.message });
    process.stderr.write(`wakegate: ${failure.message}\n`);
    process.exitCode = failure.exitCode;
  }
}
