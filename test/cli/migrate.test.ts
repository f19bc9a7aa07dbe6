/**
 * mcp-migrate imports the servers client files already hold, once, and says what came from where.
 */
import { strict as assert } from 'node:assert';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

interface Report {
  imported: { name: string; version: string; from: string; transport: { type: string } }[];
  skipped: { name: string; reason: string }[];
  unreadable: { file: string }[];
}

describe('mcp-migrate', () => {
  let p: TempProject;
  let cursorFile: string;
  let claudeDesktop: string;
  const mcprc = { mcpServers: { weather: { command: 'node', args: ['weather.js'], env: { KEY: 'v' } } }, other: true };
  before(async () => {
    p = await tempProject();
    await writeFile(join(p.dir, '.mcprc'), JSON.stringify(mcprc));
    await writeFile(join(p.dir, '.mcp.json'), JSON.stringify({ mcpServers: { remote: { type: 'http', url: 'http://127.0.0.1:9000/mcp' }, weather: { command: 'other' } } }));
    await mkdir(join(p.dir, '.vscode'));
    // VS Code files are JSON with comments and trailing commas.
    await writeFile(join(p.dir, '.vscode', 'mcp.json'), '{\n  // local tools\n  "servers": { "legacy": { "type": "sse", "url": "http://127.0.0.1:3001/sse" }, },\n}\n');
    cursorFile = join(p.env.HOME!, '.cursor', 'mcp.json');
    await mkdir(join(p.env.HOME!, '.cursor'), { recursive: true });
    await writeFile(cursorFile, JSON.stringify({ mcpServers: { broken: { args: ['x'] }, 'files': { command: 'npx', args: ['-y', '@modelcontextprotocol/server-filesystem', '/tmp'] } } }));
    claudeDesktop = join(p.env.XDG_CONFIG_HOME!, 'Claude', 'claude_desktop_config.json');
    await mkdir(join(p.env.XDG_CONFIG_HOME!, 'Claude'), { recursive: true });
    await writeFile(claudeDesktop, '{ not json');
  });
  after(() => p.cleanup());

  it('imports every importable entry as 1.0.0 blue at 100%, reports the rest, leaves client files alone', async () => {
    const r = await runCli('migrate', ['--json'], { cwd: p.dir, env: p.env });
    assert.equal(r.code, 0, r.stderr);
    const report = r.json<Report>();
    assert.deepEqual(report.imported.map((i) => [i.name, i.transport.type, i.version]).sort(), [
      ['files', 'stdio', '1.0.0'], ['legacy', 'sse', '1.0.0'], ['remote', 'http', '1.0.0'], ['weather', 'stdio', '1.0.0'],
    ]);
    assert.equal(report.imported.find((i) => i.name === 'weather')!.from, join(p.dir, '.mcprc'));
    assert.deepEqual(report.skipped.map((s) => s.name).sort(), ['broken', 'weather']);
    assert.match(report.skipped.find((s) => s.name === 'weather')!.reason, /already imported from .*\.mcprc/);
    assert.deepEqual(report.unreadable.map((u) => u.file), [claudeDesktop]);
    const status = (await runCli('status', ['weather', '--json', '--show-secrets'], { cwd: p.dir, env: p.env })).json<{ servers: { versions: Record<string, unknown>[] }[] }>();
    assert.deepEqual(
      { ...status.servers[0]!.versions[0], deploymentTimestamp: 0 },
      { type: 'stdio', command: 'node', args: ['weather.js'], env: { KEY: 'v' }, version: '1.0.0', status: 'blue', trafficPercentage: 100, deploymentTimestamp: 0, scope: 'project', usage: null },
    );
    assert.deepEqual(JSON.parse(await readFile(join(p.dir, '.mcprc'), 'utf8')), mcprc);
  });

  it('is idempotent: a second run imports nothing and says why', async () => {
    const r = await runCli('migrate', [], { cwd: p.dir, env: p.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /0 imported/);
    assert.match(r.stdout, /skipped weather from .*: already registered \(project scope/);
    assert.match(r.stderr, /could not read .*claude_desktop_config\.json/);
  });

  it('--version sets the imported version; an invalid one is refused', async () => {
    const q = await tempProject();
    try {
      await writeFile(join(q.dir, '.mcp.json'), JSON.stringify({ mcpServers: { a: { command: 'x' } } }));
      const bad = await runCli('migrate', ['--version', 'v2'], { cwd: q.dir, env: q.env });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--version "v2" is not a semantic version/);
      const ok = await runCli('migrate', ['--version', '2.3.0', '--json'], { cwd: q.dir, env: q.env });
      assert.deepEqual(ok.json<Report>().imported.map((i) => `${i.name}@${i.version}`), ['a@2.3.0']);
    } finally {
      await q.cleanup();
    }
  });
});
