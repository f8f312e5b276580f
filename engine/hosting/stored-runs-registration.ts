/**
 * A store written before namespaces and per-namespace versions were registered: on its first
 * open, the namespaces its runs are in, and the versions they are pinned to, are registered,
 * so they keep answering over HTTP and can still be upgraded to or reset onto. Once.
 *
 * @module
 */
import type { ControlRecord, EventStore } from '../../store/types.js';
import { VERSION_KIND, versionId, type DeployedVersion } from '../bundles.js';
import type { HistoryEvent } from '../history/events.js';
import { DEFAULT_NAMESPACE, NAMESPACE_KIND, NAMESPACE_NAME, type StoredNamespace } from './namespaces.js';

const DONE = { kind: 'migration', id: 'stored-runs-registered' };

export async function registerStoredRuns(store: EventStore<HistoryEvent>): Promise<void> {
  if (await store.getControl(DONE.kind, DONE.id)) return;
  const namespaces = new Set<string>();
  const pinned = new Map<string, { namespace: string; version: string }>();
  for await (const run of store.allRuns()) {
    namespaces.add(run.namespace);
    pinned.set(versionId(run.namespace, run.version), { namespace: run.namespace, version: run.version });
  }
  const now = Date.now();
  const records: ControlRecord[] = [...namespaces]
    .filter((name) => name !== DEFAULT_NAMESPACE && NAMESPACE_NAME.test(name))
    .map((name) => ({ kind: NAMESPACE_KIND, id: name, value: { name, description: 'registered with the runs it held', createdAt: now } satisfies StoredNamespace }));
  for (const [id, { version }] of pinned) {
    const bundle = await store.getBundle(version);
    if (bundle) records.push({ kind: VERSION_KIND, id, value: { version, workflowTypes: bundle.workflowTypes, deployedAt: bundle.deployedAt } satisfies DeployedVersion });
  }
  await store.write({ control: { put: [...records, { ...DONE, value: { at: now } }] } });
}
