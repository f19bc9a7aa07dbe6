/**
 * A private instance of a managed version, for one validation: started on a free port (whatever the version's
 * own --port, which a running router may hold), used as any http version, and stopped. Never restarted.
 */
import type { Transport } from '../domain/types.js';
import { Lifeline } from '../backends/lifeline.js';
import { DEFAULT_MANAGED_OPTIONS, ManagedProcess } from './managed-process.js';

/**
 * Runs `use` with `t` made reachable: a managed version gets a private instance (its transport passed on with
 * the instance's URL and no `managed`), any other transport is passed on as it is. The instance is stopped when
 * `use` settles. A start that fails resolves with `failed` instead (the message names the version), and nothing
 * is left running.
 */
export async function withReachable<R>(label: string, t: Transport, readyTimeoutMs: number, use: (reachable: Transport) => Promise<R>, failed: (message: string) => R): Promise<R> {
  if (t.type !== 'http' || !t.managed) return use(t);
  const lifeline = new Lifeline();
  const instance = new ManagedProcess(label, { ...t.managed, port: 'auto' }, { ...DEFAULT_MANAGED_OPTIONS, readyTimeoutMs, restart: false, headers: t.headers, lifeline });
  try {
    let url: string;
    try {
      url = await instance.start();
    } catch (e) {
      return failed(`the managed server could not be started: ${(e as Error).message}`);
    }
    return await use({ type: 'http', url, headers: t.headers });
  } finally {
    await instance.stop();
    lifeline.close();
  }
}
