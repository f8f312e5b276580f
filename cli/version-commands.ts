/**
 * `aion versions`, `aion route` and `aion unload`: a namespace's deployed versions, which one
 * new runs of each type start on (rollback, roll forward), and removing one (docs/hosting.md).
 *
 * @module
 */
import type { Command } from 'commander';
import type { VersionInfo } from '../engine/index.js';
import type { AionClient } from './client.js';
import { printJson, printLines, printTable } from './output.js';

export function addVersionCommands(program: Command, client: (command: Command) => AionClient, json: (command: Command) => boolean): void {
  program
    .command('versions')
    .description("the namespace's deployed versions, newest first, and the types routed to each")
    .action(async (_: unknown, command: Command) => {
      const { versions } = await client(command).call<{ versions: VersionInfo[] }>('GET', '/versions');
      if (json(command)) printJson(versions);
      else printTable(['VERSION', 'DEPLOYED', 'ROUTED', 'TYPES'], versions.map((v) => [v.version, new Date(v.deployedAt).toISOString(), v.routedTypes.join(',') || '-', v.workflowTypes.join(',')]));
    });

  program
    .command('route')
    .description('new runs of a type (or all the version exports) start on this deployed version: rollback or roll forward; running runs stay where they are')
    .argument('<target>', "a workflow type, or 'all'")
    .argument('<version>', 'a version of `aion versions`')
    .action(async (target: string, version: string, _: unknown, command: Command) => {
      const routed = await client(command).call<{ version: string; workflowTypes: string[] }>('POST', '/routes', { target, version });
      if (json(command)) printJson(routed);
      else printLines([`new runs of ${routed.workflowTypes.join(', ')} start on ${routed.version}`]);
    });

  program
    .command('unload')
    .description('remove a version from the namespace (refused while runs are pinned to it or types routed to it)')
    .argument('<version>')
    .action(async (version: string, _: unknown, command: Command) => {
      await client(command).call('DELETE', `/versions/${encodeURIComponent(version)}`);
      printLines([`unloaded version ${version}`]);
    });
}
