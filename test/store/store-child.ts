/**
 * Child process of the store tests (`store`: a LevelDB data folder, or `postgres://…#schema`).
 *   try  <store>: opens the store, prints `opened` (and closes it) or `refused <code>`;
 *   hold <store>: opens the store, prints `held`, and waits to be killed.
 */
import { openLevelDbStore, openPostgresStore, StoreError } from '../../store/index.js';
import { storeOfArgument } from '../helpers-node.js';

const [mode, argument] = process.argv.slice(2);
const where = storeOfArgument(argument);
try {
  // A PostgreSQL lease that only the holder's death frees within the test's time.
  const store = await ('dataDir' in where ? openLevelDbStore(where.dataDir) : openPostgresStore(where.postgres.url, { schema: where.postgres.schema, leaseTtlMs: 120_000 }));
  if (mode === 'hold') {
    process.stdout.write('held\n');
    setInterval(() => undefined, 60_000);
  } else {
    process.stdout.write('opened\n');
    await store.close();
  }
} catch (error) {
  process.stdout.write(`refused ${error instanceof StoreError ? error.code : String(error)}\n`);
}
