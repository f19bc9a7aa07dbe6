/**
 * The other process of a propagation measurement (scripts/store-timing.ts): a LiveView on the store its
 * environment names (MCP_ROLLOUT_STORE, else the files of its directory), printing `ready` once loaded and then
 * one `change <epoch ms>` line per change event. Ends when its stdin closes.
 */
import { LiveView } from '../src/registry/live-view.js';
import { openStore } from '../src/state/open-store.js';

const view = new LiveView(openStore({ cwd: process.cwd(), env: process.env }));
// Wall-clock milliseconds with sub-millisecond precision, comparable with the writer's (same machine).
view.on('change', () => process.stdout.write(`change ${performance.timeOrigin + performance.now()}\n`));
await view.start();
process.stdout.write('ready\n');
process.stdin.resume().once('end', () => process.exit(0));
