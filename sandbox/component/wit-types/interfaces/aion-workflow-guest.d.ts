/** @module Interface aion:workflow/guest@0.1.0 **/
/**
 * The workflow types the component implements: a JSON array of names. Called once, on a
 * fresh instance, when the component is deployed.
 */
export function workflowTypes(): string;
/**
 * Starts an activation: the JSON activation (its time, whether it replays, its jobs).
 */
export function activate(activation: string): void;
/**
 * Continues the activation: returns "1" while there is more to do (a JavaScript guest
 * runs its promise jobs in between), then the activation's result as JSON
 * (`{ "commands": [...], "logs": [...] }`).
 */
export function advance(): string;
/**
 * Answers a query (`{ "name", "args" }`) with `{ "ok": true, "result" }` or
 * `{ "ok": false, "failure" }`. Whatever it changes is undone by the host.
 */
export function query(request: string): string;
/**
 * Validates an update (`{ "updateId", "name", "args" }`): `{ "ok": true }` or
 * `{ "ok": false, "failure" }`. Whatever it changes is undone by the host.
 */
export function validateUpdate(request: string): string;
