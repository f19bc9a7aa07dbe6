/**
 * The command line keeps its promises: a bare `--` ends option parsing for every option (--help and --json
 * included), every executable answers --version, help and errors name only commands that are installed, and
 * the --json of a change stays small however large the servers' tool schemas are.
 */
import { strict as assert } from 'node:assert';
import { readFile, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { CliIo } from '../../src/cli/command.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { runCli as runInProcess } from '../../src/cli/run.js';
import { runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const PACKAGE = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string; bin: Record<string, string> };
const BINS = Object.keys(PACKAGE.bin);
const COMMAND_NAMES = COMMANDS.map((c) => c.name);

interface Contract { tools: { name: string; inputSchema?: unknown; outputSchema?: unknown }[]; prompts: unknown[]; resources: unknown[]; resourceTemplates: unknown[] }
interface VersionJson { version: string; args?: string[]; contract?: Contract }
interface StatusJson { servers: { versions: VersionJson[] }[] }

/** Runs the CLI in this process with buffered output (for the many help and error texts). */
async function inProcess(argv: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), isTTY: false, env, cwd };
  const code = await runInProcess(argv, io);
  return { code, stdout, stderr };
}

/**
 * Every command name in `text` that a user could type: each `mcp-*` word must be an installed executable, and
 * `mcp-rollout <word>` must name a subcommand. Words such as `.mcp-rollout/` (a directory) are not commands.
 */
function namedCommandProblems(text: string): string[] {
  const problems: string[] = [];
  for (const m of text.matchAll(/(?<![\w./-])(mcp-[a-z][a-z-]*)(?![\w/-])( [a-z][a-z-]*)?/g)) {
    const [, bin, sub] = m as unknown as [string, string, string | undefined];
    if (!BINS.includes(bin)) problems.push(`${bin} is not installed`);
    else if (bin === 'mcp-rollout' && sub !== undefined && !COMMAND_NAMES.includes(sub.trim())) problems.push(`"${bin}${sub}" names no subcommand`);
  }
  return problems;
}

describe('command line', () => {
  let p: TempProject;
  before(async () => {
    p = await tempProject();
  });
  after(() => p.cleanup());
  const cli = (bin: string, ...args: string[]) => runCli(bin, args, { cwd: p.dir, env: p.env });

  it('a bare -- ends option parsing: --help, -h, --json and --version after it are the server\'s arguments', async () => {
    const r = await cli('deploy', 'dashdash', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'python3', '--args', 'server.py', '--', '--help', '-h', '--json', '--version');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /^usage:/m, 'no help was printed');
    assert.throws(() => r.json(), 'the output is the human table, not JSON');
    assert.match(r.stdout, /dashdash/);
    const s = (await cli('status', 'dashdash', '--json')).json<StatusJson>();
    assert.deepEqual(s.servers[0]!.versions[0]!.args, ['server.py', '--help', '-h', '--json', '--version']);
    // Before the --, they still mean what they say.
    const help = await cli('deploy', 'x', '--help', '--', 'server.py');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: mcp-deploy /);
  });

  it('--version on every installed executable and on mcp-rollout <command> prints the package version', async () => {
    for (const bin of BINS) {
      const r = await cli(bin.replace(/^mcp-/, ''), '--version');
      assert.equal(r.code, 0, `${bin} --version: ${r.stderr}`);
      assert.equal(r.stdout, `${PACKAGE.version}\n`, bin);
    }
    const sub = await cli('rollout', 'validate', '--version');
    assert.equal(sub.stdout, `${PACKAGE.version}\n`);
    // mcp-migrate --version <v> stays migrate's own option: only a lone --version asks for the package's.
    const migrate = await cli('migrate', '--dry-run', '--version', '2.0.0');
    assert.equal(migrate.code, 0, migrate.stderr);
    assert.notEqual(migrate.stdout, `${PACKAGE.version}\n`);
  });

  it('help and errors name only installed executables or mcp-rollout <command>', async () => {
    const texts: [string, string][] = [];
    const main = await inProcess(['--help'], p.dir, p.env);
    texts.push(['mcp-rollout --help', main.stdout]);
    for (const c of COMMAND_NAMES) {
      const help = await inProcess([c, '--help'], p.dir, p.env);
      assert.equal(help.code, 0);
      texts.push([`${c} --help`, help.stdout]);
      const wrong = await inProcess([c, '--no-such-option'], p.dir, p.env);
      assert.equal(wrong.code, 2);
      texts.push([`${c} --no-such-option`, wrong.stderr]);
      const shown = BINS.includes(`mcp-${c}`) ? `mcp-${c}` : `mcp-rollout ${c}`;
      assert.match(help.stdout, new RegExp(`^usage: ${shown} `), `${c}'s usage line`);
      assert.match(wrong.stderr, new RegExp(`^${shown}: unknown option --no-such-option.* \\(see ${shown} --help\\)$`, 'm'), `${c}'s error line`);
    }
    const problems = texts.flatMap(([where, text]) => namedCommandProblems(text).map((x) => `${where}: ${x}`));
    assert.deepEqual(problems, []);
    // The subcommand-only ones, through the real executable.
    const validate = await cli('rollout', 'validate', '--help');
    assert.match(validate.stdout, /^usage: mcp-rollout validate <name> <version>/);
    assert.doesNotMatch(validate.stdout, /mcp-validate/);
  });

  it('the checker itself spots a command that is not installed', () => {
    assert.deepEqual(namedCommandProblems('usage: mcp-validate x; see mcp-rollout frob; in .mcp-rollout/ and mcp-deploy'), [
      'mcp-validate is not installed',
      '"mcp-rollout frob" names no subcommand',
    ]);
  });

  describe('--json of a change is compact; status --json --contracts has the schemas', () => {
    const VERSIONS = ['1.0.0', '2.0.0', '3.0.0', '4.0.0'];
    const TOOLS = 20;
    // About 3 KB of schema per tool, 60 KB per version: the size the issue saw for one real server.
    const bigSchema = (i: number) => ({
      type: 'object',
      properties: Object.fromEntries(Array.from({ length: 30 }, (_, k) => [`field_${i}_${k}`, { type: 'string', description: `what field ${k} of tool ${i} means, at length`.padEnd(60, '.') }])),
      required: [`field_${i}_0`],
    });
    const contract = (): Contract => ({
      tools: Array.from({ length: TOOLS }, (_, i) => ({ name: `tool_${i}`, inputSchema: bigSchema(i), outputSchema: { type: 'object' } })),
      prompts: [],
      resources: [],
      resourceTemplates: [],
    });

    before(async () => {
      for (const [i, v] of VERSIONS.entries()) {
        const r = await cli('deploy', 'wide', v, '--skip-validation', '--type', 'stdio', '--command', 'node', ...(i === 0 ? ['--blue'] : []));
        assert.equal(r.code, 0, r.stderr);
      }
      // The contracts a validation would have stored (the gate is tested elsewhere; here only their size matters).
      const doc = JSON.parse(await readFile(p.registryFile, 'utf8')) as { servers: Record<string, { versions: VersionJson[] }> };
      for (const v of doc.servers.wide!.versions) v.contract = contract();
      await writeFile(p.registryFile, JSON.stringify(doc));
    });

    it('traffic --json: no tool schemas, tool names kept, a few KB per version', async () => {
      const r = await cli('traffic', 'wide', '2.0.0', '10', '--json');
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /inputSchema|outputSchema/);
      const versions = r.json<{ server: { versions: VersionJson[] } }>().server.versions;
      assert.equal(versions.length, VERSIONS.length);
      for (const v of versions) assert.deepEqual(v.contract!.tools.map((t) => t.name), Array.from({ length: TOOLS }, (_, i) => `tool_${i}`));
      const bytes = Buffer.byteLength(r.stdout);
      assert.ok(bytes < 2048 + 2048 * VERSIONS.length, `${bytes} bytes for ${VERSIONS.length} versions`);
    });

    it('status --json leaves the schemas out too; status --json --contracts has them whole', async () => {
      const compact = await cli('status', 'wide', '--json');
      assert.doesNotMatch(compact.stdout, /inputSchema/);
      const full = await cli('status', 'wide', '--json', '--contracts');
      assert.equal(full.code, 0, full.stderr);
      for (const v of full.json<StatusJson>().servers[0]!.versions) assert.deepEqual(v.contract, contract());
      const bad = await cli('status', 'wide', '--contracts');
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /--contracts applies to --json/);
    });
  });
});
