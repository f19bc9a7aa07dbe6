/**
 * A bare Node.js reverse proxy for the benchmark's reference: `node bare-proxy.js <backend url> <port>`.
 * http.request and pipe, keep-alive to the backend, nothing else (no routing, no inspection, no telemetry):
 * what one Node hop costs at the least, so the router's overhead can be told from the hop's.
 */
import http from 'node:http';

const target = new URL(process.argv[2]!);
const agent = new http.Agent({ keepAlive: true });
const server = http.createServer((req, res) => {
  const out = http.request({ hostname: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: req.headers, agent }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  out.on('error', () => res.destroy());
  req.pipe(out);
});
server.listen(Number(process.argv[3]), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
