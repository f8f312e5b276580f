import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  // Test fixtures import the package's public modules by name, as users' code does.
  resolve: {
    alias: [
      { find: /^aion\/activity$/, replacement: source('./activity/index.ts') },
      { find: /^aion\/common$/, replacement: source('./common/index.ts') },
    ],
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'one thread', include: ['test/**/*.test.ts', '{common,engine,sandbox,store,guest-sdk,server,cli}/**/*.test.ts'], globalSetup: ['test/postgres-setup.ts'] } },
      {
        // The tests of the engine's API again, on engines whose runs two partition threads serve (test/helpers.ts, openEngine).
        extends: true,
        test: {
          name: 'two partition threads',
          include: ['test/{engine,client,server,worker}/**/*.test.ts', 'test/sandbox/{hostile-bundles,isolation}.test.ts'],
          exclude: ['test/engine/threads/**'],
          env: { AION_TEST_THREADS: '2' },
        },
      },
      {
        // The same tests again, on engines keeping their runs in PostgreSQL (test/helpers.ts, openEngine; test/postgres-setup.ts starts the server).
        extends: true,
        test: {
          name: 'PostgreSQL',
          include: ['test/{engine,client,server,worker}/**/*.test.ts', 'test/sandbox/{hostile-bundles,isolation}.test.ts'],
          exclude: ['test/engine/threads/**'],
          env: { AION_TEST_STORE: 'postgres' },
          globalSetup: ['test/postgres-setup.ts'],
        },
      },
    ],
  },
});
