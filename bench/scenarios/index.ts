import type { Scenario } from '../scenario.js';
import { failover, order3Cluster } from './cluster.js';
import { components } from './components.js';
import { crossing } from './crossing.js';
import { density } from './density.js';
import { filteredList } from './filtered-list.js';
import { inspectSeek } from './inspect-seek.js';
import { order3Scenarios } from './order3.js';
import { order3Remote } from './order3-remote.js';
import { noisyNeighbour } from './noisy-neighbour.js';
import { parkedScenarios } from './parked.js';
import { recovery } from './recovery.js';
import { replay } from './replay.js';
import { residentStarts } from './resident-starts.js';
import { sandboxCreation } from './sandbox-creation.js';
import { stepLatency } from './step-latency.js';
import { threadRestart } from './thread-restart.js';

/** Every scenario, in the order the table shows them. */
export const scenarios: Scenario[] = [...order3Scenarios, order3Cluster, failover, order3Remote, noisyNeighbour, stepLatency, crossing, replay, inspectSeek, sandboxCreation, components, density, residentStarts, filteredList, ...parkedScenarios, recovery, threadRestart];
