/**
 * An HttpRouter in this process on a free loopback port, over a registry in memory that `setup` fills.
 */
import { DEFAULT_ROUTER_OPTIONS, HttpRouter, type HttpRouterOptions } from '../../src/router/http-router.js';
import { LiveView } from '../../src/registry/live-view.js';
import { Registry } from '../../src/registry/registry.js';
import { MemoryStore } from '../../src/state/memory-store.js';

export interface RouterHarness {
  registry: Registry;
  view: LiveView;
  router: HttpRouter;
  /** `http://127.0.0.1:<port>` */
  base: string;
  /** The endpoint of one server: `<base>/mcp/<name>`. */
  url(name: string): string;
  /** Stops the router (1 s for in-flight requests) and the registry view. */
  close(): Promise<void>;
}

export async function startRouter(setup: (r: Registry) => Promise<void>, opts: Partial<HttpRouterOptions> = {}): Promise<RouterHarness> {
  const registry = new Registry(new MemoryStore());
  await setup(registry);
  const view = new LiveView(registry.store, 50);
  await view.start();
  const router = new HttpRouter(view, { ...DEFAULT_ROUTER_OPTIONS, port: 0, ...opts });
  const base = `http://127.0.0.1:${await router.listen()}`;
  return {
    registry,
    view,
    router,
    base,
    url: (name) => `${base}/mcp/${encodeURIComponent(name)}`,
    close: async () => {
      await router.close(1000);
      view.stop();
    },
  };
}
