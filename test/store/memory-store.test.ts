import { openMemoryStore } from '../../store/index.js';
import { eventStoreConformance } from './event-store.case.js';

eventStoreConformance({ name: 'in-memory', open: () => openMemoryStore() });
