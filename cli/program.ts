/**
 * The `aion` command line (its commands are part of the public contract). Local commands (`build`, `server`,
 * `replay`) use the library; the others talk to a running server over HTTP.
 *
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import inspector from 'node:inspector';
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import {
  AionError,
  bundleWorkflowCode,
  defaultLogger,
  DeterminismViolationError,
  Engine,
  replayHistories,
  replayHistory,
  RUN_STATUSES,
  StoreError,
  type DebugReplayOptions,
  type Divergence,
  type EngineOptions,
  type HistoryEvent,
  type InspectedLog,
  type ReplayReport,
  type RunAtEvent,
  type TimelineStep,
} from '../engine/index.js';
import { isLoopback, serveEngine, stopOnSignals } from '../server/index.js';
import { loadActivities } from './activities-module.js';
import { addClusterCommands } from './cluster-commands.js';
import { addHostingCommands } from './hosting-commands.js';
import { addVersionCommands } from './version-commands.js';
import { addWorkerCommand } from './worker-command.js';
import { AionClient, CliError, workflowPath } from './client.js';
import { formatValue, printFields, printJson, printLines, printTable } from './output.js';

interface GlobalOptions {
  endpoint: string;
  namespace: string;
  token?: string;
  json?: boolean;
}

type Failure = { message: string; type?: string; cause?: Failure };
type ScheduleBody = { scheduleId: string; paused: boolean; fires: number; skipped: number; nextFireTimes: string[]; action: { workflowType: string }; running?: { workflowId: string } };
type ResultBody = { status: string; result?: unknown; failure?: Failure };

type UpdateBody = { updateId: string; runId: string; stage: 'ACCEPTED' | 'COMPLETED'; result?: unknown };

/** Sends an update and waits for its result: while it runs, the server answers `ACCEPTED` after each long poll. */
async function awaitUpdate(api: AionClient, workflowId: string, name: string, updateArgs: unknown[], runId: string | undefined): Promise<UpdateBody> {
  let body = await api.call<UpdateBody>('POST', workflowPath(workflowId, `/updates/${encodeURIComponent(name)}`, runId), { args: updateArgs });
  while (body.stage !== 'COMPLETED') body = { ...body, ...(await api.call<UpdateBody>('GET', workflowPath(workflowId, `/updates/${encodeURIComponent(body.updateId)}`, body.runId))) };
  return body;
}

/** Asks for the run's result until it closed (the server answers `Running` after each long poll). */
async function awaitResult(api: AionClient, path: string): Promise<ResultBody> {
  for (;;) {
    const body = await api.call<ResultBody>('GET', path);
    if (body.status !== 'Running') return body;
  }
}

export function createProgram(): Command {
  const program = new Command('aion')
    .description('Aion: durable workflows in deterministic QuickJS sandboxes')
    .addOption(new Option('--endpoint <url>', 'server URL').env('AION_ENDPOINT').default('http://127.0.0.1:7233'))
    .addOption(new Option('--namespace <ns>', 'namespace').env('AION_NAMESPACE').default('default'))
    .addOption(new Option('--token <token>', 'your credential: an API key (or JWT) of the server').env('AION_TOKEN'))
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride();

  const globals = (command: Command) => command.optsWithGlobals<GlobalOptions>();
  const client = (command: Command) => {
    const { endpoint, namespace, token } = globals(command);
    return new AionClient({ endpoint, namespace, token });
  };
  const json = (text: string | undefined, option: string): unknown => {
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(`${option} is not valid JSON: ${text}`);
    }
  };
  const args = (text: string | undefined): unknown[] => {
    const parsed = json(text, '--args') ?? [];
    if (!Array.isArray(parsed)) throw new CliError('--args must be a JSON array, for example \'["a", 1]\'');
    return parsed;
  };

  program
    .command('build')
    .description('bundle workflows for the sandbox')
    .argument('<entry>', 'workflow module (TypeScript or JavaScript)')
    .requiredOption('-o, --output <bundle>', 'output file')
    .action(async (entry: string, options: { output: string }, command: Command) => {
      const { code } = await bundleWorkflowCode({ workflowsPath: resolve(entry) });
      writeFileSync(options.output, code);
      if (globals(command).json) printJson({ output: options.output, bytes: code.length });
      else printLines([`wrote ${options.output} (${code.length} bytes)`]);
    });

  program
    .command('server')
    .description('run the engine with its HTTP API')
    .option('--data <dir>', 'data folder (LevelDB)', './aion-data')
    .addOption(new Option('--postgres <url>', 'keep the runs in PostgreSQL (postgres://user:password@host:port/database) instead of a data folder').env('AION_POSTGRES_URL'))
    .option('--postgres-schema <name>', 'with --postgres: the schema holding the engine\'s tables', 'aion')
    .option('--cluster', 'with --postgres: serve a share of the partitions beside the other servers of the schema (docs/cluster.md)')
    .option('--advertise <url>', 'with --cluster: the address the other servers reach this one at (default http://HOST:PORT)')
    .option('--lease-ttl <seconds>', 'with --postgres: how long a partition lease lasts without renewal (default 10)')
    .option('--port <n>', 'port', '7233')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--activities <module>', 'module whose exported functions are the activities')
    .option('--accept-data-loss', 'open a data folder whose log lost confirmed writes, keeping what survived (see docs/operations.md)')
    .option('--partitions <n>', 'partitions of a new data folder (a power of two up to 256; default 16); a folder keeps the count it was created with')
    .option('--threads <n>', 'partition threads serving the runs (at most the partition count); without it one thread serves everything')
    .option('--init-admin-key', 'create the first admin key and print it (once); from then on every request needs a key. AION_ADMIN_KEY registers one chosen elsewhere')
    .addOption(new Option('--static-token <token>', 'a shared token that acts as an admin (prefer API keys)').env('AION_SERVER_TOKEN'))
    .option('--jwks-url <url>', "also accept JWTs signed by this identity provider's keys (claims aion_role, aion_namespace)")
    .option('--jwt-issuer <iss>', 'with --jwks-url: the issuer tokens must name')
    .option('--jwt-audience <aud>', 'with --jwks-url (required): the audience tokens for this server carry')
    .action(async (options: ServerCommandOptions, command: Command) => {
      if (options.postgres !== undefined && command.getOptionValueSource('data') === 'cli') throw new CliError('--data and --postgres (or AION_POSTGRES_URL) name two stores: give one');
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be a port number, got ${options.port}`);
      if ((options.jwksUrl === undefined) !== (options.jwtAudience === undefined)) throw new CliError('--jwks-url and --jwt-audience go together');
      const jwt = options.jwksUrl === undefined ? undefined : { jwksUrl: options.jwksUrl, audience: options.jwtAudience!, ...(options.jwtIssuer ? { issuer: options.jwtIssuer } : {}) };
      const logger = defaultLogger(process.env.AION_LOG_LEVEL ?? 'info');
      const activities = options.activities ? await loadActivities(options.activities) : {};
      if (options.partitions !== undefined && !/^\d+$/.test(options.partitions)) throw new CliError(`--partitions must be a number, got ${options.partitions}`);
      const partitions = options.partitions === undefined ? undefined : Number(options.partitions);
      if (options.threads !== undefined && !/^\d+$/.test(options.threads)) throw new CliError(`--threads must be a number, got ${options.threads}`);
      const threads = options.threads === undefined ? {} : { threads: Number(options.threads) };
      if (options.postgres !== undefined && options.acceptDataLoss === true) throw new CliError('--accept-data-loss is for a LevelDB data folder, not --postgres');
      if (options.postgres === undefined && (options.cluster === true || options.leaseTtl !== undefined)) throw new CliError('--cluster and --lease-ttl go with --postgres');
      const store = options.postgres === undefined ? { dataDir: options.data, acceptDataLoss: options.acceptDataLoss === true } : { postgres: postgresOptions(options, port) };
      const engine = await Engine.open({ ...store, partitions, ...threads, activities, logger }).catch((error: unknown) => {
        if (error instanceof StoreError && error.code === 'AION_STORE_DAMAGED') throw new CliError(`${error.message} (aion server --accept-data-loss)`);
        if ((error instanceof StoreError && ['AION_STORE_LAYOUT', 'AION_STORE_LOCKED', 'AION_STORE_IO'].includes(error.code)) || error instanceof AionError) throw new CliError(error.message);
        throw error;
      });
      await provisionAdminKey(engine, options.initAdminKey === true, process.env.AION_ADMIN_KEY).catch(async (error: unknown) => {
        await engine.close();
        throw error;
      });
      // The server's own token, never the CLI's credential (AION_TOKEN may hold a tenant's key).
      const server = await serveEngine(engine, { port, hostname: options.host, ...(options.staticToken !== undefined ? { token: options.staticToken } : {}), logger, ...(jwt ? { jwt } : {}) }).catch(async (error: unknown) => {
        await engine.close();
        throw error instanceof AionError ? new CliError(error.message) : error;
      });
      const where = options.postgres === undefined ? { dataDir: resolve(options.data) } : { postgresSchema: options.postgresSchema };
      logger.info({ url: server.url, ...where, activities: Object.keys(activities) }, 'Aion server listening');
      stopOnSignals(server, engine);
    });

  program
    .command('deploy')
    .description('deploy a bundle, or a WebAssembly component with --component (new runs of its types start on it); prints its version')
    .argument('[bundle]', 'bundle built by `aion build`')
    .option('--component <file.wasm>', 'a workflow component built against wit/workflow.wit (instead of a bundle)')
    .option('--check', "first replay the namespace's running runs of its types against it; refuse (deploying nothing) if any would break, naming run and event")
    .action(async (bundle: string | undefined, options: { component?: string; check?: boolean }, command: Command) => {
      if (bundle === undefined && options.component === undefined) throw new CliError('give the bundle to deploy, or --component <file.wasm>');
      if (bundle !== undefined && options.component !== undefined) throw new CliError('give a bundle or --component <file.wasm>, not both');
      const source = options.component === undefined ? { code: readText(bundle!) } : { component: readBytes(options.component).toString('base64') };
      const deployed = await client(command).call<{ version: string; workflowTypes: string[] }>('POST', '/bundles', { ...source, ...(options.check ? { check: true } : {}) });
      if (globals(command).json) printJson(deployed);
      else printLines([`deployed version ${deployed.version} (workflows: ${deployed.workflowTypes.join(', ')})`]);
    });

  program
    .command('start')
    .description('start a workflow')
    .argument('<type>', 'workflow type')
    .option('--id <id>', 'workflow id (default: a random UUID)')
    .option('--args <json>', 'arguments, as a JSON array')
    .option('--task-queue <queue>', 'task queue')
    .option('--wait', 'wait for the result')
    .action(async (type: string, options: { id?: string; args?: string; taskQueue?: string; wait?: boolean }, command: Command) => {
      const api = client(command);
      const started = await api.call<{ workflowId: string; runId: string }>('POST', '/workflows', {
        type,
        workflowId: options.id,
        args: args(options.args),
        taskQueue: options.taskQueue,
      });
      if (!options.wait) {
        if (globals(command).json) printJson(started);
        else printLines([`started ${type}: workflowId=${started.workflowId} runId=${started.runId}`]);
        return;
      }
      const body = await awaitResult(api, workflowPath(started.workflowId, '/result', started.runId));
      printResult({ ...started, ...body }, globals(command).json);
    });

  program
    .command('signal')
    .description('send a signal')
    .argument('<id>', 'workflow id')
    .argument('<name>', 'signal name')
    .option('--args <json>', 'arguments, as a JSON array')
    .option('--run-id <runId>', 'a specific run')
    .action(async (id: string, name: string, options: { args?: string; runId?: string }, command: Command) => {
      await client(command).call('POST', workflowPath(id, `/signals/${encodeURIComponent(name)}`, options.runId), { args: args(options.args) });
      if (globals(command).json) printJson({ signaled: true });
      else printLines([`signaled ${id}: ${name}`]);
    });

  program
    .command('query')
    .description('run a query')
    .argument('<id>', 'workflow id')
    .argument('<name>', 'query name')
    .option('--args <json>', 'arguments, as a JSON array')
    .option('--run-id <runId>', 'a specific run')
    .action(async (id: string, name: string, options: { args?: string; runId?: string }, command: Command) => {
      const body = await client(command).call<{ result: unknown }>('POST', workflowPath(id, `/queries/${encodeURIComponent(name)}`, options.runId), { args: args(options.args) });
      if (globals(command).json) printJson(body);
      else printLines([formatValue(body.result)]);
    });

  program
    .command('update')
    .description('run an update durably and print its result')
    .argument('<id>', 'workflow id')
    .argument('<name>', 'update name')
    .option('--args <json>', 'arguments, as a JSON array')
    .option('--run-id <runId>', 'a specific run')
    .action(async (id: string, name: string, options: { args?: string; runId?: string }, command: Command) => {
      const body = await awaitUpdate(client(command), id, name, args(options.args), options.runId);
      if (globals(command).json) printJson(body);
      else printLines([formatValue(body.result)]);
    });

  program
    .command('result')
    .description('wait for the run to close and print its result (exit 1 if it failed)')
    .argument('<id>', 'workflow id')
    .option('--run-id <runId>', 'a specific run')
    .action(async (id: string, options: { runId?: string }, command: Command) => {
      const body = await awaitResult(client(command), workflowPath(id, '/result', options.runId));
      printResult(body, globals(command).json);
    });

  program
    .command('describe')
    .description('describe a run')
    .argument('<id>', 'workflow id')
    .option('--run-id <runId>', 'a specific run')
    .action(async (id: string, options: { runId?: string }, command: Command) => {
      const description = await client(command).call<Record<string, unknown>>('GET', workflowPath(id, '', options.runId));
      if (globals(command).json) return printJson(description);
      // Where the run waits is a multi-line stack: printed below the fields.
      const { stackTrace, ...fields } = description;
      printFields(fields);
      if (typeof stackTrace === 'string') printLines(['waiting at:', stackTrace]);
    });

  for (const verb of ['cancel', 'terminate'] as const) {
    program
      .command(verb)
      .description(verb === 'cancel' ? 'request cancellation (the workflow may clean up)' : 'end the run now')
      .argument('<id>', 'workflow id')
      .option('--reason <text>', 'reason')
      .option('--run-id <runId>', 'a specific run')
      .action(async (id: string, options: { reason?: string; runId?: string }, command: Command) => {
        await client(command).call('POST', workflowPath(id, `/${verb}`, options.runId), { reason: options.reason });
        if (globals(command).json) printJson({ [verb === 'cancel' ? 'cancelRequested' : 'terminated']: true });
        else printLines([verb === 'cancel' ? `cancellation requested for ${id}` : `terminated ${id}`]);
      });
  }

  program
    .command('list')
    .description('list runs')
    .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
    .option('--type <type>', 'only runs of this workflow type')
    .option('--limit <n>', 'at most this many')
    .action(async (options: { status?: string; type?: string; limit?: string }, command: Command) => {
      const query = new URLSearchParams();
      if (options.status) query.set('status', options.status);
      if (options.type) query.set('type', options.type);
      if (options.limit) query.set('limit', options.limit);
      const { workflows } = await client(command).call<{ workflows: Record<string, string>[] }>('GET', `/workflows?${query}`);
      if (globals(command).json) printJson(workflows);
      else printTable(['WORKFLOW ID', 'TYPE', 'STATUS', 'STARTED', 'RUN ID'], workflows.map((w) => [w.workflowId, w.workflowType, w.status, w.startTime, w.runId]));
    });

  program
    .command('history')
    .description('print a run\'s history (--json prints what `aion replay` reads)')
    .argument('<id>', 'workflow id')
    .option('--run-id <runId>', 'a specific run')
    .option('--follow', 'then print each event as it is recorded, until the run closes (--json: one event per line)')
    .action(async (id: string, options: { runId?: string; follow?: boolean }, command: Command) => {
      if (options.follow) {
        for await (const message of client(command).events(workflowPath(id, '/events', options.runId, { follow: 'true' }))) {
          if (message.event === 'end') return;
          if (message.event === 'error') throw new CliError(`the stream stopped: ${(JSON.parse(message.data) as { message: string }).message}`);
          const event = JSON.parse(message.data) as HistoryEvent;
          printLines([globals(command).json ? JSON.stringify(event) : eventLine(event)]);
        }
        throw new CliError('the stream stopped before the run closed (the connection was lost)');
      }
      const { events } = await client(command).call<{ events: HistoryEvent[] }>('GET', workflowPath(id, '/history', options.runId));
      if (globals(command).json) {
        printJson({ workflowId: id, events });
        return;
      }
      printLines(events.map(eventLine));
    });

  program
    .command('upgrade')
    .description("move a running run to another version of its bundle (default: its type's current one), if its history replays there")
    .argument('<id>', 'workflow id')
    .option('--version <version>', 'the bundle version (default: the one new runs of the type start on)')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .action(async (id: string, options: { version?: string; runId?: string }, command: Command) => {
      const body = await client(command).call<{ fromVersion: string; toVersion: string }>('POST', workflowPath(id, '/upgrade', options.runId), { version: options.version });
      if (globals(command).json) printJson(body);
      else printLines([`upgraded ${id}: ${body.fromVersion} → ${body.toVersion}`]);
    });

  program
    .command('reset')
    .description('a new run that carries on from event N of this one (on another version with --version, checked by replay first); the old run is terminated')
    .argument('<id>', 'workflow id')
    .requiredOption('--to-event <n>', 'the last event to keep: the end of an activation, or a job between two')
    .option('--version <version>', 'the bundle version to carry on with (default: the run\'s)')
    .option('--reason <reason>', 'why, for the old run\'s termination')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .action(async (id: string, options: { toEvent: string; version?: string; reason?: string; runId?: string }, command: Command) => {
      const toEvent = Number(options.toEvent);
      const body = await client(command).call<{ runId: string; fromRunId: string; version: string }>('POST', workflowPath(id, '/reset', options.runId), {
        toEvent,
        ...(options.version !== undefined ? { version: options.version } : {}),
        ...(options.reason !== undefined ? { reason: options.reason } : {}),
      });
      if (globals(command).json) printJson(body);
      else printLines([`reset ${id} to event ${toEvent}: run ${body.runId} (version ${body.version}) carries on from run ${body.fromRunId}`]);
    });

  const activity = program.command('activity').description('complete activities that threw CompleteAsyncError, by their base64 task token');
  activity
    .command('complete')
    .description('complete the activity with a result')
    .argument('<taskToken>', 'the activity’s task token (base64)')
    .option('--result <json>', 'the result, as JSON')
    .action(async (taskToken: string, options: { result?: string }, command: Command) => {
      await client(command).call('POST', '/activities/complete', { taskToken, result: json(options.result, '--result') });
      printLines(['completed']);
    });
  activity
    .command('fail')
    .description('fail the activity’s attempt (its retry policy decides what follows)')
    .argument('<taskToken>', 'the activity’s task token (base64)')
    .requiredOption('--message <text>', 'the failure message')
    .option('--type <type>', 'the failure type (matched against nonRetryableErrorTypes)')
    .option('--non-retryable', 'do not retry')
    .action(async (taskToken: string, options: { message: string; type?: string; nonRetryable?: boolean }, command: Command) => {
      await client(command).call('POST', '/activities/fail', { taskToken, failure: { message: options.message, type: options.type, nonRetryable: options.nonRetryable === true } });
      printLines(['failed']);
    });
  activity
    .command('heartbeat')
    .description('report liveness and record details (exits 1 once the workflow asked the activity to cancel)')
    .argument('<taskToken>', 'the activity’s task token (base64)')
    .option('--details <json>', 'heartbeat details, as JSON')
    .action(async (taskToken: string, options: { details?: string }, command: Command) => {
      await client(command).call('POST', '/activities/heartbeat', { taskToken, details: json(options.details, '--details') });
      printLines(['recorded']);
    });

  const schedule = program.command('schedule').description('manage schedules (cron or interval starts)');
  schedule
    .command('create')
    .description('create a schedule')
    .argument('<scheduleId>', 'schedule id')
    .requiredOption('--type <type>', 'workflow type to start')
    .option('--cron <expression>', 'cron expression, e.g. "0 3 * * *"')
    .option('--interval <duration>', 'fixed interval, e.g. 1h')
    .option('--timezone <tz>', 'IANA time zone of the cron expression')
    .option('--args <json>', 'arguments of each run, as a JSON array')
    .option('--id-prefix <prefix>', 'workflow id prefix of started runs')
    .addOption(new Option('--overlap <policy>', 'when a tick meets a running run').choices(['Skip', 'BufferOne', 'CancelOther', 'AllowAll']))
    .addOption(new Option('--catchup <policy>', 'ticks missed while down').choices(['One', 'All', 'Skip']))
    .option('--paused', 'create paused')
    .action(async (id: string, options: Record<string, string | boolean | undefined>, command: Command) => {
      const interval = options.interval as string | undefined;
      const body = {
        scheduleId: id,
        spec: { cron: options.cron, intervalMs: interval === undefined ? undefined : /^\d+$/.test(interval) ? Number(interval) : interval, timezone: options.timezone },
        action: { workflowType: options.type, args: args(options.args as string | undefined), workflowIdPrefix: options.idPrefix },
        overlap: options.overlap,
        catchup: options.catchup,
        paused: options.paused === true,
      };
      printSchedule(await client(command).call('POST', '/schedules', body), globals(command).json);
    });
  schedule
    .command('list')
    .description('list schedules')
    .action(async (_: unknown, command: Command) => {
      const { schedules } = await client(command).call<{ schedules: ScheduleBody[] }>('GET', '/schedules');
      if (globals(command).json) printJson(schedules);
      else printTable(['SCHEDULE ID', 'WORKFLOW TYPE', 'PAUSED', 'FIRES', 'NEXT FIRE'], schedules.map((s) => [s.scheduleId, s.action.workflowType, String(s.paused), String(s.fires), s.nextFireTimes[0] ?? '']));
    });
  schedule
    .command('describe')
    .argument('<scheduleId>', 'schedule id')
    .action(async (id: string, _: unknown, command: Command) => printSchedule(await client(command).call('GET', `/schedules/${encodeURIComponent(id)}`), globals(command).json));
  for (const verb of ['pause', 'resume', 'trigger'] as const) {
    schedule
      .command(verb)
      .argument('<scheduleId>', 'schedule id')
      .action(async (id: string, _: unknown, command: Command) =>
        printSchedule(await client(command).call('POST', `/schedules/${encodeURIComponent(id)}/${verb}`, {}), globals(command).json),
      );
  }
  schedule
    .command('delete')
    .argument('<scheduleId>', 'schedule id')
    .action(async (id: string, _: unknown, command: Command) => {
      await client(command).call('DELETE', `/schedules/${encodeURIComponent(id)}`);
      if (globals(command).json) printJson({ deleted: id });
      else printLines([`deleted schedule ${id}`]);
    });

  program
    .command('inspect')
    .description('the run as it was after event N: its info, what it waited on (in source lines), a query\'s answer, its log lines; --timeline: each activation')
    .argument('<id>', 'workflow id')
    .option('--at <n>', 'the event to look at (default: the last)')
    .option('--query <name>', 'a query to answer as the run would have then')
    .option('--args <json>', 'the query\'s arguments, as a JSON array')
    .option('--timeline', 'each activation up to that event: what it received, what it did and where, what it logged')
    .option('--run-id <runId>', 'a specific run')
    .action(async (id: string, options: { at?: string; query?: string; args?: string; timeline?: boolean; runId?: string }, command: Command) => {
      const api = client(command);
      const at = options.at ?? String((await api.call<{ events: unknown[] }>('GET', workflowPath(id, '/history', options.runId))).events.length);
      if (options.timeline) {
        const { steps } = await api.call<{ steps: TimelineStep[] }>('GET', workflowPath(id, '/timeline', options.runId, { until: at }));
        if (globals(command).json) printJson(steps);
        else printLines(steps.flatMap(timelineLines));
        return;
      }
      const query = { at, ...(options.query !== undefined ? { query: options.query } : {}), ...(options.args !== undefined ? { args: options.args } : {}) };
      const state = await api.call<RunAtEvent>('GET', workflowPath(id, '/inspect', options.runId, query));
      if (globals(command).json) printJson(state);
      else printLines(inspectionLines(id, state, options.query));
    });

  program
    .command('replay')
    .description('replay histories against a bundle: exit 0 if it reproduces them, 1 with each divergence (both source lines and a hint) if not')
    .requiredOption('--bundle <bundle>', 'bundle built by `aion build`')
    .option('--history <history>', 'one history: output of `aion history --json`')
    .option('--type <type>', "every run of this workflow type on the server (the pre-deploy check); with --status, those in that status")
    .addOption(new Option('--status <status>', 'with --type: only runs with this status').choices([...RUN_STATUSES]))
    .option('--strict', 'also compare what commands carry: arguments, durations, search attributes, memo, the result')
    .option('--all', 'report every divergence, not just the first')
    .option('--inspect [host:port]', "with --history: replay in this process's V8 under Node's inspector (default 127.0.0.1:9229), waiting for a debugger (Chrome DevTools, VS Code) and stopping once the bundle is loaded")
    .option('--break-at-event <ids>', 'with --inspect: also stop before the activations delivering these history events (comma-separated ids)', parseEventIds)
    .option('--source-root <dir>', 'with --inspect: the folder the bundle was built in, where the debugger finds its sources (default: here)')
    .action(async (options: ReplayCommandOptions, command: Command) => {
      if ((options.history === undefined) === (options.type === undefined)) throw new CliError('give either --history FILE or --type TYPE');
      if (options.status !== undefined && options.type === undefined) throw new CliError('--status goes with --type');
      if (options.inspect !== undefined && options.type !== undefined) throw new CliError('--inspect replays one history: give --history FILE');
      if (options.inspect === undefined && (options.breakAtEvent !== undefined || options.sourceRoot !== undefined)) throw new CliError('--break-at-event and --source-root go with --inspect');
      const code = readText(options.bundle);
      const check = { strict: options.strict === true, all: options.all === true };
      const json = globals(command).json;
      if (options.type !== undefined) {
        const report = await replayHistories({ code }, serverHistories(client(command), options.type, options.status), check);
        if (json) printJson(report);
        else printLines(reportLines(report, options.type));
        if (report.diverged.length > 0 || report.failed.length > 0) process.exitCode = 1;
        return;
      }
      let history: unknown;
      try {
        history = JSON.parse(readText(options.history!));
      } catch (error) {
        if (error instanceof CliError) throw error;
        throw new CliError(`${options.history} is not valid JSON`);
      }
      const replayed = (debug?: DebugReplayOptions) =>
        replayHistory({ code }, history as HistoryEvent[], { ...check, ...(debug ? { debug } : {}) }).then(
          () => undefined,
          (error: unknown) => {
            if (!(error instanceof DeterminismViolationError)) throw error;
            return error;
          },
        );
      // The sandbox's verdict is the one that counts; a debug replay runs the code in V8, which may differ (docs/debugging.md).
      const divergence = await replayed();
      if (options.inspect !== undefined) {
        openInspector(options.inspect);
        try {
          const debugged = await replayed({ breakOnLoad: true, ...(options.breakAtEvent ? { breakAtEvent: options.breakAtEvent } : {}), ...(options.sourceRoot ? { sourceRoot: resolve(options.sourceRoot) } : {}) });
          if (verdictOf(debugged) !== verdictOf(divergence)) {
            process.stderr.write(`aion: warning: the debug replay (V8) and the sandboxed replay (QuickJS) disagree — debug: ${verdictOf(debugged)}; sandbox: ${verdictOf(divergence)}. The sandbox's is what the engine does (see docs/debugging.md, "What differs in a debug replay").\n`);
          }
        } finally {
          // A debugger still attached would keep the process waiting for it to disconnect.
          inspector.close();
        }
      }
      if (divergence) {
        if (json) printJson({ ok: false, divergences: divergence.divergences });
        else printLines(divergence.divergences.flatMap(divergenceLines));
        process.exitCode = 1;
        return;
      }
      const count = Array.isArray(history) ? history.length : (history as { events: unknown[] }).events.length;
      if (json) printJson({ ok: true, events: count });
      else printLines([`replayed ${count} events: the code reproduces the history`]);
    });

  addHostingCommands(program, client, (command) => globals(command).json === true);
  addVersionCommands(program, client, (command) => globals(command).json === true);
  addClusterCommands(program, client, (command) => globals(command).json === true);
  addWorkerCommand(program, globals);

  return program;
}

/** One event of `aion history`: id, time, type, and its other fields as JSON. */
function eventLine({ eventId, type, time, ...attributes }: HistoryEvent): string {
  const rest = JSON.stringify(attributes);
  return `${String(eventId).padStart(4)}  ${new Date(time).toISOString()}  ${type.padEnd(24)} ${rest === '{}' ? '' : rest}`.trimEnd();
}

/** `aion server --postgres`'s store options: the schema, the lease time, and cluster mode with this server's address. */
function postgresOptions(options: ServerCommandOptions, port: number): NonNullable<EngineOptions['postgres']> {
  const { postgres: url, postgresSchema: schema, cluster, advertise, leaseTtl } = options;
  if (!cluster && advertise !== undefined) throw new CliError('--advertise goes with --cluster');
  const leaseTtlMs = leaseTtl === undefined ? undefined : Math.round(Number(leaseTtl) * 1000);
  if (leaseTtlMs !== undefined && !(leaseTtlMs >= 300 && leaseTtlMs <= 600_000)) throw new CliError(`--lease-ttl must be a number of seconds from 0.3 to 600, got ${leaseTtl}`);
  if (cluster && advertise === undefined && (port === 0 || !isLoopback(options.host))) {
    throw new CliError('--cluster needs the address the other servers reach this one at: give --advertise http://host:port (or a fixed --port on a loopback --host)');
  }
  const address = advertise ?? `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  return { url: url!, schema, ...(leaseTtlMs !== undefined ? { leaseTtlMs } : {}), ...(cluster ? { cluster: { address } } : {}) };
}

interface ServerCommandOptions {
  data: string;
  postgres?: string;
  postgresSchema: string;
  cluster?: boolean;
  advertise?: string;
  leaseTtl?: string;
  port: string;
  host: string;
  activities?: string;
  acceptDataLoss?: boolean;
  partitions?: string;
  threads?: string;
  initAdminKey?: boolean;
  staticToken?: string;
  jwksUrl?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
}

/**
 * The first admin key: created and printed once (`--init-admin-key`, refused if one exists),
 * or registered from `AION_ADMIN_KEY` (idempotent).
 */
const isPartitionMoved = (error: unknown): boolean => error instanceof StoreError && error.code === 'AION_STORE_PARTITION_MOVED';

async function provisionAdminKey(engine: Engine, create: boolean, fromEnvironment: string | undefined): Promise<void> {
  if (fromEnvironment !== undefined) {
    const registered = await engine.apiKeys.registerAdminKey(fromEnvironment).catch((error: unknown) => {
      // A node of a cluster that does not serve the control plane: the node that does registers it (from the same environment).
      if (isPartitionMoved(error)) return undefined;
      throw new CliError(`AION_ADMIN_KEY: ${(error as Error).message}`);
    });
    if (registered?.revokedAt !== undefined) process.stderr.write(`aion: warning: AION_ADMIN_KEY is key ${registered.id}, revoked at ${registered.revokedAt.toISOString()}: it opens nothing\n`);
  }
  if (!create) return;
  if ((await engine.apiKeys.list()).some((key) => key.role === 'admin' && key.revokedAt === undefined)) {
    throw new CliError('--init-admin-key: an admin key exists already (aion key create --role admin makes another)');
  }
  const { key, id } = await engine.apiKeys.create({ role: 'admin', description: 'created by aion server --init-admin-key' }).catch((error: unknown) => {
    if (isPartitionMoved(error)) throw new CliError('--init-admin-key: another node of the cluster serves the control plane: give it to that node (or, once a key exists, make keys with aion key create through any node)');
    throw error;
  });
  process.stdout.write(`admin key (id ${id}), shown this once: ${key}\n`);
}

interface ReplayCommandOptions {
  bundle: string;
  history?: string;
  type?: string;
  status?: string;
  strict?: boolean;
  all?: boolean;
  inspect?: string | true;
  breakAtEvent?: number[];
  sourceRoot?: string;
}

/** Comma-separated event ids (`replayHistory` checks them against the history). */
const parseEventIds = (text: string): number[] => text.split(',').map((part) => Number(part.trim()));

/** A replay's outcome in a few words, to compare two replays of one history. */
const verdictOf = (divergence: DeterminismViolationError | undefined): string =>
  divergence ? `diverges at event${divergence.divergences.length > 1 ? 's' : ''} ${divergence.divergences.map((d) => d.eventIndex).join(', ')}` : 'reproduces the history';

/**
 * Opens Node's inspector on `address` (`host:port`, `[ipv6]:port`, a port, or the default
 * 127.0.0.1:9229; Node prints where it listens) and waits until a debugger attaches and tells
 * the process to run.
 */
function openInspector(address: string | true): void {
  const { host, port } = address === true ? { host: '127.0.0.1', port: 9229 } : inspectorAddress(address);
  if (!isLoopback(host)) process.stderr.write(`aion: warning: the inspector on ${host} lets anyone who reaches that address run code in this process\n`);
  inspector.open(port, host, false);
  process.stderr.write(`Waiting for a debugger to attach (Chrome: chrome://inspect; VS Code: an "attach" configuration on port ${new URL(inspector.url()!).port})...\n`);
  inspector.waitForDebugger();
}

function inspectorAddress(address: string): { host: string; port: number } {
  const match = /^(?:(?:\[([^\]]+)\]|([^:[\]]+)):)?(\d{1,5})$/.exec(address);
  if (!match || Number(match[3]) > 65_535) throw new CliError(`--inspect takes host:port, [ipv6]:port or a port, got '${address}'`);
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port: Number(match[3]) };
}

/** The histories of a workflow type's runs on the server (optionally of one status), fetched one by one as the replay wants them. */
async function* serverHistories(api: AionClient, workflowType: string, status: string | undefined): AsyncIterable<HistoryEvent[]> {
  const query = new URLSearchParams({ type: workflowType, ...(status !== undefined ? { status } : {}) });
  const { workflows } = await api.call<{ workflows: { workflowId: string; runId: string }[] }>('GET', `/workflows?${query}`);
  for (const run of workflows) yield (await api.call<{ events: HistoryEvent[] }>('GET', workflowPath(run.workflowId, '/history', run.runId))).events;
}

/** A bulk replay's report: the groups of divergences (largest first), the runs in each, and what could not be replayed. */
function reportLines(report: ReplayReport, workflowType: string): string[] {
  if (report.diverged.length === 0 && report.failed.length === 0) return [`replayed ${report.replayed} histories of ${workflowType}: the code reproduces them all`];
  const lines = [`replayed ${report.replayed} histories of ${workflowType}: ${report.reproduced} reproduce, ${report.diverged.length} diverge, ${report.failed.length} cannot be replayed`];
  for (const group of report.groups) {
    lines.push('', `${group.runs.length} diverge at ${group.kind}${group.recordedAt ? ` (recorded at ${group.recordedAt})` : ''}${group.hint ? `: ${group.hint}` : ''}`);
    for (const run of group.runs) lines.push(`  ${run.workflowId} (run ${run.runId}) at event ${run.eventIndex}${run.producedAt ? `, code at ${run.producedAt}` : ''}`);
  }
  for (const failed of report.failed) lines.push('', `cannot replay ${failed.workflowId ?? 'a history'}${failed.runId ? ` (run ${failed.runId})` : ''}: ${failed.message}`);
  return lines;
}

/** What `aion inspect` prints of a run at an event. */
function inspectionLines(workflowId: string, state: RunAtEvent, queryName: string | undefined): string[] {
  const { workflowType } = state.info as { workflowType?: string };
  return [
    `${workflowType ?? 'workflow'} ${workflowId} after event ${state.eventIndex} (${new Date(state.time).toISOString()})${workflowType ? '' : ', before its first activation'}`,
    ...(state.pending ? ['waiting on:', state.pending] : ['waiting on nothing']),
    ...(queryName === undefined || !state.query ? [] : [`query ${queryName}: ${state.query.ok ? formatValue(state.query.result) : `failed: ${state.query.failure.message}`}`]),
    ...(state.logs.length > 0 ? ['logs:', ...state.logs.map(logLine)] : []),
  ];
}

/** One activation of `aion inspect --timeline`: its jobs, its commands and their call sites, its log lines. */
function timelineLines(step: TimelineStep): string[] {
  const commands = step.commands.map((command) => `${command.type}${command.callSite ? ` (${command.callSite})` : ''}`);
  return [
    `event ${String(step.eventIndex).padStart(4)}  ${new Date(step.time).toISOString()}  ${step.jobs.join(', ')} → ${commands.length > 0 ? commands.join(', ') : 'nothing'}`,
    ...step.logs.map((line) => `    ${logLine(line)}`),
  ];
}

const logLine = (line: InspectedLog): string => `[event ${line.eventIndex}] ${line.level} ${line.message}${line.attributes ? ` ${JSON.stringify(line.attributes)}` : ''}`;

/** A divergence as `aion replay` prints it: where, both sides with their source lines, and the hint. */
function divergenceLines(divergence: Divergence): string[] {
  return [
    `nondeterminism at event ${divergence.eventIndex}`,
    `- history: ${divergence.expected}${divergence.recordedAt ? `  at ${divergence.recordedAt}` : ''}`,
    `+ code:    ${divergence.actual}${divergence.producedAt ? `  at ${divergence.producedAt}` : ''}`,
    ...(divergence.hint ? [`  hint: ${divergence.hint}`] : []),
  ];
}

function readText(path: string): string {
  return readBytes(path).toString('utf8');
}

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
}

/** Prints a result body; a run that did not complete sets exit code 1. */
function printResult(body: ResultBody & Record<string, unknown>, json: boolean | undefined): void {
  if (json) printJson(body);
  else if (body.status === 'Completed') printLines([formatValue(body.result)]);
  else process.stderr.write(`${body.status}: ${describeFailure(body.failure)}\n`);
  if (body.status !== 'Completed') process.exitCode = 1;
}

function printSchedule(body: unknown, json: boolean | undefined): void {
  if (json) return printJson(body);
  const schedule = body as ScheduleBody;
  printFields({
    schedule: schedule.scheduleId,
    workflowType: schedule.action.workflowType,
    paused: schedule.paused,
    fires: schedule.fires,
    skipped: schedule.skipped,
    running: schedule.running?.workflowId ?? '',
    nextFire: schedule.nextFireTimes[0] ?? '',
  });
}

function describeFailure(failure: Failure | undefined): string {
  if (!failure) return 'no details';
  const own = failure.type ? `${failure.message} (${failure.type})` : failure.message;
  return failure.cause ? `${own}: ${describeFailure(failure.cause)}` : own;
}
