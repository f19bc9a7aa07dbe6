import { MemoryStore } from '../../src/state/memory-store.js';
import { storeContract } from './store-contract.js';

storeContract('MemoryStore', async () => ({ store: new MemoryStore(), cleanup: async () => {} }), { sessionEnds: true });
