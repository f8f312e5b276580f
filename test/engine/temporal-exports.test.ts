/**
 * Every value `@temporalio/workflow` 1.24 exports either bundles through the alias (and so
 * exists in the sandbox) or is refused when the bundle is built, naming it and why: no
 * Temporal API is silently undefined at run time. aion/activity has every export of
 * `@temporalio/activity` but three, and aion/common exactly the listed subset of
 * `@temporalio/common` (docs/workflows.md, "Differences from Temporal", says which).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BundleError, bundleWorkflowCode } from '../../engine/bundler.js';
import * as aionActivity from '../../activity/index.js';
import * as aionCommon from '../../common/index.js';
import temporalActivity from '../fixtures/temporal-activity-exports.json' with { type: 'json' };
import temporalCommon from '../fixtures/temporal-common-exports.json' with { type: 'json' };
import temporal from '../fixtures/temporal-workflow-exports.json' with { type: 'json' };
import { tempDir } from '../helpers.js';

describe(`the exports of ${temporal.package} ${temporal.version}`, () => {
  it('each bundles, or is refused at build time by name with a reason', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const refused: string[] = [];
    for (const name of temporal.exports) {
      const entry = join(dir, `${name}.ts`);
      writeFileSync(entry, `import { ${name} } from '@temporalio/workflow';\nexport async function uses() {\n  return typeof ${name};\n}\n`);
      try {
        const { code } = await bundleWorkflowCode({ workflowsPath: entry });
        expect(code).toContain(`api.${name}`);
      } catch (error) {
        expect(error).toBeInstanceOf(BundleError);
        expect((error as Error).message).toMatch(new RegExp(`'${name}' imported from '@temporalio/workflow' is not supported: \\S`));
        refused.push(name);
      }
    }
    // What is refused today (docs/workflows.md, "Differences from Temporal"): a name leaving this list is a name now supported.
    expect(refused.sort()).toEqual(
      [
        'AsyncLocalStorage',
        'CompleteAsyncError',
        'ExternalStorageNotConfiguredError',
        'LocalActivityDoBackoff',
        'NamespaceNotFoundError',
        'NexusOperationCancellationType',
        'NotAnActivityMethod',
        'PayloadConverterError',
        'ServerFailure',
        'WorkflowIdConflictPolicy',
        'WorkflowIdReusePolicy',
        'WorkflowNotFoundError',
        'addDefaultWorkflowOptions',
        'createEventGroup',
        'createNexusServiceClient',
        'decodeWorkflowIdConflictPolicy',
        'decodeWorkflowIdReusePolicy',
        'defaultPayloadConverter',
        'defineWorkflowOptions',
        'encodeWorkflowIdConflictPolicy',
        'encodeWorkflowIdReusePolicy',
        'extractWorkflowType',
        'extractWorkflowTypeAndConfig',
        'getRandomStream',
        'metricMeter',
        'proxySinks',
        'scheduleActivity',
        'scheduleLocalActivity',
        'workflowRandom',
      ].sort(),
    );
  });
});

describe(`the exports of ${temporalActivity.package} ${temporalActivity.version}`, () => {
  it('each exists in aion/activity, but for the documented ones', () => {
    expect(temporalActivity.exports.filter((name) => !(name in aionActivity))).toEqual(['asyncLocalStorage', 'metricMeter', 'setActivityOptions']);
  });
});

describe(`the exports of ${temporalCommon.package} ${temporalCommon.version}`, () => {
  it('aion/common has its failure classes, policies, search-attribute types and cancellation details', () => {
    // The rest are data converters, protobuf helpers, client errors and server-side policies (docs/workflows.md).
    expect(temporalCommon.exports.filter((name) => name in aionCommon)).toEqual([
      'ActivityCancellationDetails',
      'ActivityCancellationType',
      'ActivityFailure',
      'ApplicationFailure',
      'ApplicationFailureCategory',
      'CancelledFailure',
      'ChildWorkflowFailure',
      'IllegalStateError',
      'SearchAttributeType',
      'TemporalFailure',
      'TerminatedFailure',
      'TimeoutFailure',
      'TypedSearchAttributes',
      'ValueError',
      'defineSearchAttributeKey',
      'rootCause',
    ]);
  });
});
