/**
 * A free TCP port on 127.0.0.1, found by binding port 0 and letting it go. Another process may take it before
 * the caller binds it (managed-process retries a start that fails with "address in use").
 */
import { createServer } from 'node:net';

/** Resolves with the port; rejects when nothing can be bound on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
