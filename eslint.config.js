import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * The layering, enforced: each folder lists what it must not import. Dependencies point
 * down — guest-sdk → (sandbox boundary) → engine → store — and the edges (server, cli) use
 * the engine's public entry only. `common/` is shared by both sides of the sandbox boundary.
 */
const LAYERS = [
  { files: ['common/**'], forbid: ['**/guest-sdk/**', '**/engine/**', '**/sandbox/**', '**/store/**', '**/server/**', '**/cli/**', 'node:*'], why: 'common/ runs inside the sandbox and on the host: it imports only common/' },
  {
    files: ['guest-sdk/**'],
    ignores: ['guest-sdk/runtime-entry.ts'],
    forbid: ['**/engine/**', '**/sandbox/**', '**/store/**', '**/server/**', '**/cli/**', 'node:*'],
    why: 'the guest SDK runs inside the sandbox: it reaches the host only through the protocol in common/',
  },
  { files: ['sandbox/**'], forbid: ['**/engine/**', '**/store/**', '**/server/**', '**/cli/**', '**/guest-sdk/**', '**/common/**'], why: 'the sandbox knows nothing of workflows or storage' },
  {
    files: ['store/**'],
    forbid: ['**/engine/**', '**/sandbox/**', '**/server/**', '**/cli/**', '**/guest-sdk/**', '**/common/**', '!**/common/partition-key.js'],
    why: 'the store knows nothing of the engine or the sandbox (only the partition key, which run ids carry, is shared)',
  },
  {
    files: ['engine/**'],
    forbid: ['**/server/**', '**/cli/**', '**/guest-sdk/**', '!**/guest-sdk/runtime-entry.js'],
    why: 'the engine never imports a transport, and of the guest SDK only the runtime entry',
  },
  {
    files: ['server/**', 'cli/**', 'client/**', 'testing/**'],
    forbid: ['**/engine/**', '!**/engine/index.js', '**/sandbox/**', '**/store/**', '**/guest-sdk/**', '**/common/**'],
    why: 'server/, cli/, client/ and testing/ use the engine through its public entry (engine/index.ts) only',
  },
  {
    files: ['worker/**'],
    forbid: ['**/engine/**', '!**/engine/index.js', '!**/engine/activities/', '**/engine/activities/*', '!**/engine/activities/context.js', '**/sandbox/**', '**/store/**', '**/guest-sdk/**', '**/common/**', '**/server/**', '**/cli/**'],
    why: 'worker/ (aion/worker) talks to a server over HTTP: of the engine it uses the public entry and the activity context only',
  },
  {
    files: ['activity/**'],
    forbid: ['**/engine/**', '!**/engine/index.js', '!**/engine/activities/', '**/engine/activities/*', '!**/engine/activities/context.js', '**/sandbox/**', '**/store/**', '**/guest-sdk/**', '**/common/**'],
    why: 'activity/ (aion/activity) is the engine\'s activity context with a client: it uses the engine through its public entry and that context only',
  },
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'scratch/', 'aion-data/', 'bench/results/', 'eslint.config.js', 'sandbox/component/wit-types/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: { ...importX.flatConfigs.typescript.settings, 'import-x/resolver-next': [createTypeScriptImportResolver()] },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-empty-function': 'off',
      '@typescript-eslint/no-floating-promises': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    // The web UI: plain browser JavaScript, shipped as is (no build, no type information).
    files: ['server/ui/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false },
      globals: Object.fromEntries(['document', 'window', 'location', 'localStorage', 'sessionStorage', 'fetch', 'URLSearchParams', 'FormData', 'Node'].map((name) => [name, 'readonly'])),
    },
  },
  ...LAYERS.map(({ files, ignores, forbid, why }) => ({
    files,
    ...(ignores ? { ignores } : {}),
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: forbid, message: why }] }] },
  })),
);
