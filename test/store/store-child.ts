/**
 * Child process of the LevelDB store tests.
 *   try  <dataDir>: opens the store, prints `opened` (and closes it) or `refused <code>`;
 *   hold <dataDir>: opens the store, prints `held`, and waits to be killed.
 */
import { openLevelDbStore, StoreError } from '../../store/index.js';

const [mode, dataDir] = process.argv.slice(2);
try {
  const store = await openLevelDbStore(dataDir);
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
