/**
 * A byte relay for the benchmark's reference: `node byte-relay.js <backend url> <port>`. Each client connection
 * gets its own connection to the backend, and bytes are passed both ways as they come, unread: what one proxy
 * hop costs on this machine with no HTTP work at all (the two extra loopback deliveries and wake-ups).
 */
import net from 'node:net';

const target = new URL(process.argv[2]!);
const server = net.createServer({ noDelay: true }, (client) => {
  const backend = net.connect({ host: target.hostname, port: Number(target.port), noDelay: true });
  client.on('data', (d) => backend.write(d));
  backend.on('data', (d) => client.write(d));
  client.on('close', () => backend.destroy());
  backend.on('close', () => client.destroy());
  client.on('error', () => backend.destroy());
  backend.on('error', () => client.destroy());
});
server.listen(Number(process.argv[3]), '127.0.0.1', () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
