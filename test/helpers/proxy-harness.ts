/**
 * A StdioProxy run in-process over a registry in memory, with the client's side as line-delimited JSON: send
 * messages, read them back in order. For the proxy's unit-level tests (real backends, no proxy process).
 */
import { PassThrough } from 'node:stream';
import { DEFAULT_PROXY_OPTIONS, StdioProxy, type ProxyOptions } from '../../src/router/stdio-proxy.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { VersionMetrics } from '../../src/telemetry/version-metrics.js';

export type Msg = { id?: unknown; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: number; message: string } };

export interface ProxyHarness {
  registry: Registry;
  view: LiveView;
  input: PassThrough;
  output: PassThrough;
  proxy: StdioProxy;
  metrics: VersionMetrics;
  /** Resolves when the proxy has finished (every backend ended). */
  running: Promise<void>;
  /** Writes a message (a string is written as is) and a newline. */
  send(m: unknown): void;
  /** The next message to the client (fails after 10 s). */
  next(): Promise<Msg>;
  /** The next message that is not a notification. */
  answer(): Promise<Msg>;
  /** Ends the client's side and waits for the proxy to finish (once; later calls wait for the same end). */
  end(): Promise<void>;
}

/** Harnesses not ended yet: a test file's afterEach ends them with `endAll()`. */
const open: ProxyHarness[] = [];

/** Starts a proxy for server "s" after `setup` has registered its versions. */
export async function proxyHarness(setup: (r: Registry) => Promise<void>, opts: Partial<ProxyOptions> = {}): Promise<ProxyHarness> {
  const registry = new Registry(new MemoryStore());
  await setup(registry);
  const view = new LiveView(registry.store, 50);
  await view.start();
  const input = new PassThrough();
  const output = new PassThrough();
  const metrics = new VersionMetrics();
  const proxy = new StdioProxy('s', view, input, output, metrics, { ...DEFAULT_PROXY_OPTIONS, stderr: () => undefined, ...opts });
  const running = proxy.run();
  const queue: Msg[] = [];
  const waiters: ((m: Msg) => void)[] = [];
  let buf = '';
  output.on('data', (c: Buffer) => {
    buf += c.toString();
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const m = JSON.parse(buf.slice(0, nl)) as Msg;
      buf = buf.slice(nl + 1);
      const w = waiters.shift();
      if (w) w(m);
      else queue.push(m);
    }
  });
  const next = (): Promise<Msg> => {
    const m = queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no message within 10 s')), 10_000);
      waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  };
  let ended: Promise<void> | undefined;
  const h: ProxyHarness = {
    registry,
    view,
    input,
    output,
    proxy,
    metrics,
    running,
    next,
    send: (m) => input.write(typeof m === 'string' ? `${m}\n` : `${JSON.stringify(m)}\n`),
    answer: async () => {
      let m = await next();
      while (m.method !== undefined && m.id === undefined) m = await next();
      return m;
    },
    end: () =>
      (ended ??= (async () => {
        input.end();
        await running;
        view.stop();
      })()),
  };
  open.push(h);
  return h;
}

/** Ends every harness still open (for afterEach). */
export async function endAll(): Promise<void> {
  await Promise.all(open.splice(0).map((h) => h.end()));
}
