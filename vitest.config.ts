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
    include: ['test/**/*.test.ts', '{common,engine,sandbox,store,guest-sdk,server,cli}/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
