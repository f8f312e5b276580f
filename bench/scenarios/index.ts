import type { Scenario } from '../scenario.js';
import { order3Scenarios } from './order3.js';
import { replay } from './replay.js';
import { sandboxCreation } from './sandbox-creation.js';

/** Every scenario, in the order the table shows them. */
export const scenarios: Scenario[] = [...order3Scenarios, sandboxCreation, replay];
