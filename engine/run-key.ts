/** Names a run in the engine's in-memory tables: its namespace and run id (ids never contain NUL). */
export const runKey = (namespace: string, runId: string): string => `${namespace}\u0000${runId}`;
