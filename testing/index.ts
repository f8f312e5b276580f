/**
 * `aion/testing`: test environments shaped like Temporal's `TestWorkflowEnvironment`. An
 * in-memory engine with its client; in the time-skipping one the engine's clock jumps to the
 * next durable timer whenever every run is waiting (and while `env.client` waits for a
 * result), so a workflow that sleeps for 90 days is tested in milliseconds.
 *
 * @example
 * const env = await TestWorkflowEnvironment.createTimeSkipping({ activities });
 * await env.deploy({ workflowsPath: require.resolve('./workflows') });
 * const result = await env.client.workflow.execute(subscription, { workflowId: 's1', taskQueue: 'test' });
 * await env.teardown();
 *
 * @module
 */
import { Client, Connection } from '../client/index.js';
import { bundleWorkflowCode, Engine, toMs, type DeployResult, type Duration, type EngineOptions } from '../engine/index.js';

export type TestEnvironmentOptions = Omit<EngineOptions, 'dataDir' | 'store' | 'timeSkipping'>;

export class TestWorkflowEnvironment {
  readonly client: Client;

  private constructor(readonly engine: Engine) {
    this.client = new Client({ connection: Connection.inProcess(engine) });
  }

  /** An in-memory engine whose clock skips to the next timer whenever it is idle. */
  static async createTimeSkipping(options: TestEnvironmentOptions = {}): Promise<TestWorkflowEnvironment> {
    return new TestWorkflowEnvironment(await Engine.open({ ...options, timeSkipping: true }));
  }

  /** An in-memory engine on the real clock. */
  static async createLocal(options: TestEnvironmentOptions = {}): Promise<TestWorkflowEnvironment> {
    return new TestWorkflowEnvironment(await Engine.open(options));
  }

  /** The engine's time (epoch ms): ahead of the wall clock once time was skipped (async, as Temporal's). */
  async currentTimeMs(): Promise<number> {
    return this.engine.now();
  }

  /** Bundles a workflows module (or takes built code) and deploys it. */
  async deploy(bundle: { workflowsPath: string } | { code: string }): Promise<DeployResult> {
    const code = 'code' in bundle ? bundle.code : (await bundleWorkflowCode({ workflowsPath: bundle.workflowsPath })).code;
    return this.engine.deploy({ code });
  }

  /**
   * Lets `duration` pass: in the time-skipping environment the clock moves forward at once,
   * firing every timer due on the way; in the local one, a real wait.
   */
  async sleep(duration: Duration): Promise<void> {
    const ms = toMs(duration);
    if (this.engine.timeSkipping) await this.engine.timeSkipping.sleep(ms);
    else await new Promise((resolve) => setTimeout(resolve, ms));
  }

  async teardown(): Promise<void> {
    await this.engine.close();
  }
}

export { MockActivityEnvironment, defaultActivityInfo } from './mock-activity-environment.js';
