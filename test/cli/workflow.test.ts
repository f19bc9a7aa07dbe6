/**
 * The design's own scenarios, run as real CLI processes with --json, exact numbers asserted.
 */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

interface VersionJson { version: string; status: string; trafficPercentage: number; deploymentTimestamp: number }
interface StatusJson { servers: { name: string; versions: VersionJson[]; mcpVersionHistory: { currentBlue: string | null; lastRollback: null | Record<string, unknown> } }[] }

describe('CLI scenarios from the design', () => {
  let p: TempProject;
  beforeEach(async () => {
    p = await tempProject();
  });
  afterEach(() => p.cleanup());

  const cli = async (bin: string, ...args: string[]): Promise<CliResult> => {
    const r = await runCli(bin, args, { cwd: p.dir, env: p.env });
    assert.equal(r.code, 0, `mcp-${bin} ${args.join(' ')} failed: ${r.stderr}`);
    return r;
  };
  const split = async (name: string): Promise<Record<string, string>> => {
    const s = (await cli('status', name, '--json')).json<StatusJson>();
    return Object.fromEntries(s.servers[0]!.versions.map((v) => [v.version, `${v.status} ${v.trafficPercentage}`]));
  };

  it('basic workflow: deploy, 0 -> 20 -> 50 -> 100, promote', async () => {
    const first = await cli('deploy', 'weather', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--args', 'server.js');
    assert.match(first.stdout, /first version .* blue at 100%/);
    await cli('deploy', 'weather', '2.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--args', 'server-v2.js');
    assert.deepEqual(await split('weather'), { '1.0.0': 'blue 100', '2.0.0': 'green 0' });
    await cli('traffic', 'weather', '2.0.0', '20');
    assert.deepEqual(await split('weather'), { '1.0.0': 'blue 80', '2.0.0': 'green 20' });
    await cli('traffic', 'weather', '2.0.0', '50');
    assert.deepEqual(await split('weather'), { '1.0.0': 'blue 50', '2.0.0': 'green 50' });
    await cli('traffic', 'weather', '2.0.0', '100');
    assert.deepEqual(await split('weather'), { '1.0.0': 'blue 0', '2.0.0': 'green 100' });
    const promoted = (await cli('promote', 'weather', '2.0.0', '--json')).json<{ changed: boolean; server: StatusJson['servers'][0] }>();
    assert.equal(promoted.changed, true);
    assert.equal(promoted.server.mcpVersionHistory.currentBlue, '2.0.0');
    assert.deepEqual(await split('weather'), { '1.0.0': 'inactive 0', '2.0.0': 'blue 100' });
    const again = await cli('promote', 'weather', '2.0.0');
    assert.match(again.stdout, /already blue: nothing to do/);

    const log = (await readFile(p.logFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { event: string; version?: string });
    assert.deepEqual(log.map((l) => l.event), [
      'mcp_server_registered',
      'mcp_server_registered',
      'mcp_server_traffic_changed', 'mcp_server_traffic_changed', // 20
      'mcp_server_traffic_changed', 'mcp_server_traffic_changed', // 50
      'mcp_server_traffic_changed', 'mcp_server_traffic_changed', // 100
      'mcp_server_status_changed', // 1.0.0 blue -> inactive (its traffic is already 0)
      'mcp_server_status_changed', // 2.0.0 green -> blue (its traffic is already 100)
    ]);
    const h = (await cli('history', 'weather', '2.0.0', '--json')).json<{ entries: { kind: string; from?: unknown; to?: unknown }[] }>();
    assert.deepEqual(h.entries.map((e) => [e.kind, e.from ?? null, e.to ?? null]), [
      ['registered', null, null], ['traffic', 0, 20], ['traffic', 20, 50], ['traffic', 50, 100], ['status', 'green', 'blue'],
    ]);
  });

  it('immediate --blue swap: the new version takes 100% at once, the old one is the rollback target', async () => {
    await cli('deploy', 'weather', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--args', 'server.js');
    const swap = await cli('deploy', 'weather', '2.0.0', '--skip-validation', '--type', 'http', '--url', 'http://127.0.0.1:8080/mcp', '--blue');
    assert.match(swap.stdout, /2\.0\.0 is now blue at 100%; 1\.0\.0 is inactive/);
    assert.deepEqual(await split('weather'), { '1.0.0': 'inactive 0', '2.0.0': 'blue 100' });
    const back = await cli('rollback', 'weather', '2.0.0', '--reason', 'handshake fails');
    assert.match(back.stdout, /1\.0\.0 is blue at 100%/);
    assert.deepEqual(await split('weather'), { '1.0.0': 'blue 100', '2.0.0': 'inactive 0' });
  });

  it('rollback with a reason: recorded in lastRollback, history and the deployment log', async () => {
    await cli('deploy', 'weather', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--args', 'server.js');
    await cli('deploy', 'weather', '1.1.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--args', 'server.js', '--traffic', '30');
    assert.deepEqual(await split('weather'), { '1.0.0': 'blue 70', '1.1.0': 'green 30' });
    await cli('rollback', 'weather', '1.1.0', '--reason', 'error rate 31% > 10% over 212 requests');
    assert.deepEqual(await split('weather'), { '1.0.0': 'blue 100', '1.1.0': 'inactive 0' });
    const s = (await cli('status', 'weather', '--json')).json<StatusJson>();
    const lr = s.servers[0]!.mcpVersionHistory.lastRollback!;
    assert.equal(lr.fromVersion, '1.1.0');
    assert.equal(lr.toVersion, '1.0.0');
    assert.equal(lr.reason, 'error rate 31% > 10% over 212 requests');
    assert.equal(typeof lr.timestamp, 'number');
    const human = await cli('history', 'weather', '1.1.0');
    assert.match(human.stdout, /rolled back 1\.1\.0 -> 1\.0\.0: error rate 31% > 10% over 212 requests/);
    const log = await readFile(p.logFile, 'utf8');
    assert.match(log, /"event":"mcp_server_rollback".*"reason":"error rate 31% > 10% over 212 requests"/);
  });

  it('three versions: blue 90, A 10, set B to 10 -> 81, 9, 10; removing B gives its share back', async () => {
    await cli('deploy', 'w', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node');
    await cli('deploy', 'w', '1.1.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--traffic', '10');
    await cli('deploy', 'w', '1.2.0', '--skip-validation', '--type', 'stdio', '--command', 'node');
    await cli('traffic', 'w', '1.2.0', '10');
    assert.deepEqual(await split('w'), { '1.0.0': 'blue 81', '1.1.0': 'green 9', '1.2.0': 'green 10' });
    await cli('remove-version', 'w', '1.2.0');
    assert.deepEqual(await split('w'), { '1.0.0': 'blue 90', '1.1.0': 'green 10' });
    const h = await cli('history', 'w', '1.2.0', '--json');
    assert.ok(h.json<{ entries: unknown[] }>().entries.length >= 3, 'history of a removed version stays');
  });

  it('arguments that start with -- pass after a bare --, env values are masked in human output', async () => {
    await cli('deploy', 'w', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--args', 'server.js', '--env', 'API_KEY=s3cret', 'MODE=x', '--', '--port', '3');
    const s = (await cli('status', 'w', '--json', '--show-secrets')).json<{ servers: { versions: { args: string[]; env: Record<string, string> }[] }[] }>();
    assert.deepEqual(s.servers[0]!.versions[0]!.args, ['server.js', '--port', '3']);
    assert.deepEqual(s.servers[0]!.versions[0]!.env, { API_KEY: 's3cret', MODE: 'x' });
    const human = await cli('status');
    assert.match(human.stdout, /API_KEY=\*\*\*/);
    assert.doesNotMatch(human.stdout, /s3cret/);
    assert.doesNotMatch((await cli('status', '--json')).stdout, /s3cret/);
    await cli('deploy', 'w', '1.1.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--args=--inspect', '--args', 'x.js');
    const v = (await cli('status', 'w', '--json')).json<{ servers: { versions: { args: string[] }[] }[] }>();
    assert.deepEqual(v.servers[0]!.versions[1]!.args, ['--inspect', 'x.js']);
  });

  it('every command is also a subcommand of mcp-rollout', async () => {
    await cli('rollout', 'deploy', 'w', '1.0.0', '--skip-validation', '--type', 'sse', '--url', 'http://127.0.0.1:3001/sse');
    const s = (await cli('rollout', 'status', '--json')).json<StatusJson>();
    assert.equal(s.servers[0]!.versions[0]!.status, 'blue');
    const help = await cli('rollout', '--help');
    for (const c of ['deploy', 'promote', 'rollback', 'traffic', 'status', 'history', 'migrate', 'remove-version', 'validate']) assert.match(help.stdout, new RegExp(`\\b${c}\\b`));
  });
});
