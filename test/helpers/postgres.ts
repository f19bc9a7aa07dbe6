/**
 * A throwaway PostgreSQL cluster for one test file: Debian's server binaries, a temporary data directory, a free
 * loopback port, trust authentication on 127.0.0.1 and the unix socket inside the directory (so it never meets
 * a system cluster). initdb refuses to run as root, so under root the server runs as the `postgres` OS user the
 * package creates, in a directory it owns. A test that needs it fails when it cannot start it: nothing skips.
 */
import { freePort } from '../../src/free-port.js';
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface PgCluster {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`. */
  url: string;
  port: number;
  /** Creates a fresh database and returns its URL (one per store under test keeps them apart). */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (`pg_ctl stop -m fast`) and removes its directory. */
  stop(): Promise<void>;
  /**
   * Takes the server down keeping its data, for `up` to start it again: `pg_ctl stop -m fast` (its clients'
   * connections are cut; not `immediate`, which with fsync off may lose the last commits).
   */
  down(): Promise<void>;
  /** Starts the server taken down by `down` on the same port; resolves once it accepts connections. */
  up(): Promise<void>;
}

/** The newest installed major version's bin directory (Debian keeps them outside PATH). */
async function binDir(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const majors = await readdir(root).catch(() => [] as string[]);
  const newest = majors.filter((m) => /^\d+$/.test(m)).sort((a, b) => Number(b) - Number(a))[0];
  if (newest === undefined) {
    throw new Error(`PostgreSQL is not installed (no ${root}/<major>/bin): run scripts/system-deps.sh (npm test runs it first)`);
  }
  return join(root, newest, 'bin');
}


/** Starts a cluster; throws with initdb's or the server's own output when it cannot. */
export async function startPostgres(): Promise<PgCluster> {
  const bin = await binDir();
  const asRoot = process.getuid?.() === 0;
  const osUser = asRoot ? 'postgres' : userInfo().username;
  // runuser keeps our environment minus what it resets; the server needs nothing from it.
  const exec = (cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]) : run(join(bin, cmd), args);
  const dir = await mkdtemp(join(tmpdir(), 'mcp-rollout-pg-'));
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']).catch(() => {
      throw new Error('the OS user "postgres" does not exist: install Debian\'s postgresql package (scripts/system-deps.sh)');
    });
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  try {
    await exec('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb as ${osUser} in ${data} failed: ${(e as { stderr?: string }).stderr ?? (e as Error).message}`);
  }
  // A port taken between our probe and the server's bind fails the start: try a few.
  let port = 0;
  // fsync off: a test cluster's durability does not matter, its speed on a shared disk does.
  const opts = (): string => `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300`;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await exec('pg_ctl', ['-D', data, '-l', log, '-o', opts(), '-w', '-t', '60', 'start']);
      break;
    } catch (e) {
      if (attempt < 2) continue;
      const text = await readFile(log, 'utf8').catch(() => '');
      await rm(dir, { recursive: true, force: true });
      throw new Error(`PostgreSQL did not start on 127.0.0.1:${port} (${(e as Error).message}):\n${text}`);
    }
  }
  const url = (db: string): string => `postgres://postgres@127.0.0.1:${port}/${db}`;
  // A test file cancelled by its timeout never reaches stop(): the server must not outlive the test process.
  const onExit = (): void => {
    try {
      const ctl = [join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', '-w', 'stop'];
      execFileSync(asRoot ? 'runuser' : ctl[0]!, asRoot ? ['-u', 'postgres', '--', ...ctl] : ctl.slice(1), { stdio: 'ignore' });
    } catch {
      // already stopped
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return {
    url: url('postgres'),
    port,
    async createDatabase(name) {
      await exec('psql', ['-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE "${name}"`]);
      return url(name);
    },
    async down() {
      await exec('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    async up() {
      await exec('pg_ctl', ['-D', data, '-l', log, '-o', opts(), '-w', '-t', '60', 'start']);
    },
    async stop() {
      process.off('exit', onExit);
      await exec('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
