/**
 * 50 real CLI writers at once against one PostgreSQL database (loads the machine on purpose: a solo file). The
 * database's per-server lock must give what the file lock gives: no lost update, invariants kept, traffic
 * summing to 100, one log row per change.
 */
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { checkServer } from '../../src/domain/invariants.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

describe('50 concurrent CLI writers on a PostgreSQL store', () => {
  let cluster: PgCluster;
  let p: TempProject;
  let env: NodeJS.ProcessEnv;
  let url: string;
  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    url = await cluster.createDatabase('writers');
    env = { ...p.env, MCP_ROLLOUT_STORE: url };
  });
  after(async () => {
    await p.cleanup();
    await cluster.stop();
  });

  const deploy = (server: string, version: string, ...extra: string[]): Promise<CliResult> =>
    runCli('deploy', [server, version, '--skip-validation', '--type', 'stdio', '--command', 'node', ...extra], { cwd: p.dir, env });

  it('every deploy lands, the invariants hold, traffic sums to 100, one log row per deploy', async () => {
    // On a database no command has used yet: the schema is created by whichever writer comes first.
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => deploy('race', `2.0.${i}`, '--traffic', '0')));
    results.forEach((r) => assert.equal(r.code, 0, r.stderr));
    const store = new PostgresStore(url);
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const s = (await store.get('race'))!.server;
      assert.equal(s.versions.length, 50, `${s.versions.length} of 50 versions landed`);
      assert.deepEqual(checkServer(s), []);
      assert.equal(s.versions.reduce((a, v) => a + v.trafficPercentage, 0), 100);
      assert.equal(s.versions.filter((v) => v.status === 'blue').length, 1);
      const [registered] = await sql<{ n: number }[]>`SELECT count(*)::int AS n FROM mcp_rollout_log WHERE server = 'race' AND record->>'event' = 'mcp_server_registered'`;
      assert.equal(registered!.n, 50);
      assert.equal(await store.revision(), String(results.length), 'one revision per write');
    } finally {
      await store.close();
      await sql.end();
    }
  });
});
