/**
 * A store written before namespaces and per-namespace versions were registered: on its first
 * open, the namespaces its runs are in, the versions they are pinned to and the versions its
 * workflow types are routed to are registered (what is registered already is left as it is),
 * so they keep answering over HTTP and can still be routed, upgraded to or reset onto. Once.
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
  const namespaces = new Set<string>([DEFAULT_NAMESPACE]);
  const versions = new Map<string, { namespace: string; version: string }>();
  for await (const run of store.allRuns()) {
    namespaces.add(run.namespace);
    versions.set(versionId(run.namespace, run.version), { namespace: run.namespace, version: run.version });
  }
  const bundles = await store.listBundles();
  for (const namespace of namespaces) {
    for (const bundle of bundles) {
      for (const type of bundle.workflowTypes) {
        if ((await store.getTypeVersion(namespace, type)) === bundle.version) versions.set(versionId(namespace, bundle.version), { namespace, version: bundle.version });
      }
    }
  }
  const now = Date.now();
  const records: ControlRecord[] = [];
  for (const name of namespaces) {
    if (name === DEFAULT_NAMESPACE || !NAMESPACE_NAME.test(name) || (await store.getControl(NAMESPACE_KIND, name))) continue;
    records.push({ kind: NAMESPACE_KIND, id: name, value: { name, description: 'registered with the runs it held', createdAt: now } satisfies StoredNamespace });
  }
  const byVersion = new Map(bundles.map((bundle) => [bundle.version, bundle]));
  for (const [id, { version }] of versions) {
    const bundle = byVersion.get(version);
    if (bundle && !(await store.getControl(VERSION_KIND, id))) records.push({ kind: VERSION_KIND, id, value: { version, workflowTypes: bundle.workflowTypes, deployedAt: bundle.deployedAt } satisfies DeployedVersion });
  }
  await store.write({ control: { put: [...records, { ...DONE, value: { at: now } }] } });
}
