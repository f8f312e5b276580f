/**
 * Vitest global setup: a throw-away PostgreSQL server for the tests of the PostgreSQL store
 * (tools/throwaway-postgres.ts), or the one `AION_TEST_POSTGRES_URL` names. Tests read its
 * address with `inject('postgresUrl')`. Without PostgreSQL installed the tests that need it
 * are skipped, except in CI (`CI=true`), where that is an error: .ci/run installs it.
 */
import type { TestProject } from 'vitest/node';
import { postgresBinaries, startThrowawayPostgres } from '../tools/throwaway-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | undefined;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env.AION_TEST_POSTGRES_URL;
  if (given) {
    project.provide('postgresUrl', given);
    return undefined;
  }
  if (postgresBinaries() === undefined && process.env.CI !== 'true') {
    console.warn('PostgreSQL is not installed: the tests of the PostgreSQL store are skipped (apt-get install postgresql, or set AION_TEST_POSTGRES_URL)');
    project.provide('postgresUrl', undefined);
    return undefined;
  }
  // fsync off: the tests kill engines, never the database server.
  const server = await startThrowawayPostgres({ fsync: false });
  project.provide('postgresUrl', server.url);
  return () => server.stop();
}
