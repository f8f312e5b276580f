export * from './types.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { KvEventStore } from './kv-event-store.js';
export { openLevelDbStore, openMemoryStore, type LevelDbStoreOptions } from './open.js';
export { PartitionedEventStore } from './partitioned-store.js';
export { DEFAULT_PARTITIONS, checkPartitionCount, runIdFor } from './partitions.js';
export { openPostgresStore, type PostgresStoreOptions } from './postgres/open.js';
export { PostgresEventStore } from './postgres/postgres-event-store.js';
