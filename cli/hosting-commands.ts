/**
 * `aion namespace`, `aion key` and `aion audit`: managing a multi-tenant server (docs/hosting.md).
 *
 * @module
 */
import { Option, type Command } from 'commander';
import { QUOTA_NAMES, ROLES, type ApiKeyInfo, type AuditEntry, type NamespaceInfo, type NewApiKey } from '../engine/index.js';
import { CliError, type AionClient } from './client.js';
import { printFields, printJson, printLines, printTable } from './output.js';

type Client = (command: Command) => AionClient;
type Json = (command: Command) => boolean;

const when = (date: string | Date | undefined): string => (date === undefined ? '' : new Date(date).toISOString());

/**
 * The global `--namespace` (or AION_NAMESPACE) when given, not its default: the namespace a key
 * acts in, or the one a listing is limited to.
 */
function chosenNamespace(command: Command): string | undefined {
  let root = command;
  while (root.parent) root = root.parent;
  return root.getOptionValueSource('namespace') === 'default' ? undefined : (root.opts<{ namespace: string }>().namespace);
}

/** `--quota name=value`, repeatable, into a quotas object (the server checks names and values). */
function collectQuota(text: string, quotas: Record<string, number> | undefined): Record<string, number> {
  const match = /^(\w+)=(.+)$/.exec(text);
  if (!match) throw new CliError(`--quota takes name=value, got '${text}'`);
  return { ...quotas, [match[1]]: Number(match[2]) };
}

interface NamespaceOptions {
  description?: string;
  quota?: Record<string, number>;
  retention?: string;
}

const settingsOf = (options: NamespaceOptions) => ({
  ...(options.description !== undefined ? { description: options.description } : {}),
  ...(options.quota !== undefined ? { quotas: options.quota } : {}),
  ...(options.retention !== undefined ? { retention: options.retention === 'forever' ? null : options.retention } : {}),
});

const DURATION_UNITS: [string, number][] = [['day', 86_400_000], ['hour', 3_600_000], ['minute', 60_000], ['second', 1000]];

/** A duration in the largest unit that measures it exactly (`36 hours`, not a rounded `2 days`). */
function exactDuration(durationMs: number): string {
  const [unit, size] = DURATION_UNITS.find(([, size]) => durationMs % size === 0) ?? ['millisecond', 1];
  const count = durationMs / size;
  return `${count} ${unit}${count === 1 ? '' : 's'}`;
}

/** A namespace for people: retention as a duration. */
const shownNamespace = ({ retentionMs, createdAt, ...info }: NamespaceInfo) => ({
  ...info,
  retention: retentionMs === undefined ? 'forever' : exactDuration(retentionMs),
  createdAt: when(createdAt),
});

export function addHostingCommands(program: Command, client: Client, json: Json): void {
  const namespace = program.command('namespace').description('manage the namespaces this server hosts (admin key)');
  const path = (name: string) => `/v1/namespaces/${encodeURIComponent(name)}`;
  const printNamespace = (command: Command, info: NamespaceInfo) => (json(command) ? printJson(info) : printFields(shownNamespace(info)));
  namespace
    .command('create')
    .argument('<ns>', 'its name: letters, digits, . _ -')
    .option('--description <text>', 'what it is for')
    .option('--quota <name=value>', `a quota (repeatable): ${QUOTA_NAMES.join(', ')}`, collectQuota, undefined)
    .option('--retention <duration>', "how long closed runs are kept, e.g. '30 days' (default: forever)")
    .action(async (name: string, options: NamespaceOptions, command: Command) =>
      printNamespace(command, await client(command).callServer<NamespaceInfo>('POST', '/v1/namespaces', { name, ...settingsOf(options) })),
    );
  namespace
    .command('list')
    .action(async (_: unknown, command: Command) => {
      const { namespaces } = await client(command).callServer<{ namespaces: NamespaceInfo[] }>('GET', '/v1/namespaces');
      if (json(command)) printJson(namespaces);
      else printTable(['NAME', 'CREATED', 'DESCRIPTION'], namespaces.map((ns) => [ns.name, when(ns.createdAt), ns.description ?? '']));
    });
  namespace
    .command('describe')
    .argument('<ns>')
    .action(async (name: string, _: unknown, command: Command) => printNamespace(command, await client(command).callServer<NamespaceInfo>('GET', path(name))));
  namespace
    .command('update')
    .argument('<ns>')
    .option('--description <text>', 'what it is for')
    .option('--quota <name=value>', 'a quota (repeatable); giving any replaces all the namespace\'s quotas', collectQuota, undefined)
    .option('--retention <duration>', "how long runs closing from now on are kept, or 'forever'")
    .action(async (name: string, options: NamespaceOptions, command: Command) =>
      printNamespace(command, await client(command).callServer<NamespaceInfo>('PUT', path(name), settingsOf(options))),
    );
  namespace
    .command('delete')
    .description('refused while it has running runs or schedules')
    .argument('<ns>')
    .action(async (name: string, _: unknown, command: Command) => {
      await client(command).callServer('DELETE', path(name));
      printLines([`deleted namespace ${name}`]);
    });

  const key = program.command('key').description('manage API keys (admin key)');
  key
    .command('create')
    .description('a key for one namespace and role (or --role admin: the whole server); printed once')
    .addOption(new Option('--role <role>', 'what it may do').choices([...ROLES]).makeOptionMandatory())
    .option('--description <text>', 'who or what it is for')
    .addHelpText('after', '\nThe key acts in the namespace given by --namespace (default: default); an admin key in all.')
    .action(async (options: { role: string; description?: string }, command: Command) => {
      const { role, description } = options;
      const keyNamespace = role === 'admin' ? undefined : (chosenNamespace(command) ?? 'default');
      const created = await client(command).callServer<NewApiKey>('POST', '/v1/keys', { role, ...(keyNamespace !== undefined ? { namespace: keyNamespace } : {}), ...(description !== undefined ? { description } : {}) });
      if (json(command)) printJson({ key: created.key, id: created.id, role: created.role, ...(created.namespace !== undefined ? { namespace: created.namespace } : {}) });
      else printLines([created.key, `id ${created.id}, role ${created.role}${created.namespace !== undefined ? ` in namespace ${created.namespace}` : ''}: keep the key now, it is not shown again`]);
    });
  key
    .command('list')
    .description('every key, or with --namespace those of one namespace')
    .action(async (_: unknown, command: Command) => {
      const only = chosenNamespace(command);
      const query = only !== undefined ? `?namespace=${encodeURIComponent(only)}` : '';
      const { keys } = await client(command).callServer<{ keys: ApiKeyInfo[] }>('GET', `/v1/keys${query}`);
      if (json(command)) printJson(keys);
      else printTable(['ID', 'ROLE', 'NAMESPACE', 'CREATED', 'REVOKED', 'DESCRIPTION'], keys.map((k) => [k.id, k.role, k.namespace ?? '*', when(k.createdAt), when(k.revokedAt), k.description ?? '']));
    });
  key
    .command('revoke')
    .argument('<id>', 'the key id (aion key list)')
    .action(async (id: string, _: unknown, command: Command) => {
      const revoked = await client(command).callServer<ApiKeyInfo>('POST', `/v1/keys/${encodeURIComponent(id)}/revoke`);
      if (json(command)) printJson(revoked);
      else printLines([`revoked key ${revoked.id}`]);
    });

  program
    .command('audit')
    .description('who did what: deploys, starts, signals, cancels, terminations, resets, namespace and key changes (admin key); with --namespace, in one namespace')
    .option('--limit <n>', 'at most this many, newest first', '100')
    .action(async (options: { limit: string }, command: Command) => {
      const only = chosenNamespace(command);
      const query = new URLSearchParams({ limit: options.limit, ...(only !== undefined ? { namespace: only } : {}) });
      const { entries } = await client(command).callServer<{ entries: AuditEntry[] }>('GET', `/v1/audit?${query}`);
      if (json(command)) printJson(entries);
      else printTable(['TIME', 'NAMESPACE', 'ACTOR', 'ACTION', 'TARGET'], entries.map((e) => [when(e.time), e.namespace, e.actor, e.action, e.target ?? '']));
    });
}
