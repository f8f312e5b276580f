import { openMemoryStore } from '../../store/index.js';
import { eventStoreConformance } from './event-store.case.js';

eventStoreConformance({ name: 'in-memory, 1 partition', open: () => openMemoryStore({ partitions: 1 }) });
eventStoreConformance({ name: 'in-memory, 16 partitions', open: () => openMemoryStore() });
