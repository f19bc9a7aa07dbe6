/**
 * The demo (`npm run demo`): a registry in a throwaway project, driven through the real commands, showing
 * the design's workflow with exact numbers. It leaves nothing behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processIo } from '../src/cli/process-io.js';
import { runCli } from '../src/cli/run.js';

const server = fileURLToPath(new URL('../../examples/weather-server.mjs', import.meta.url));
const weather = (variant: string): string[] => ['--type', 'stdio', '--command', process.execPath, '--args', server, variant];
const dir = await mkdtemp(join(tmpdir(), 'mcp-rollout-demo-'));
const io = { ...processIo(), cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg') } };
const step = async (title: string, ...argv: string[]): Promise<void> => {
  process.stdout.write(`\n# ${title}\n$ mcp-${argv.join(' ')}\n`);
  const code = await runCli(argv, io);
  if (code !== 0 && !title.includes('refused') && !title.includes('stops')) throw new Error(`demo step failed: mcp-${argv.join(' ')}`);
};

try {
  process.stdout.write(`mcp-rollout demo in ${dir}\n`);
  await step('the first version of a server is validated, then becomes blue at 100%', 'deploy', 'weather', '1.0.0', ...weather('v1'));
  await step('a new version is validated and diffed against the blue, then arrives as green at 0%', 'deploy', 'weather', '2.0.0', ...weather('v2'), '--env', 'API_KEY=not-shown');
  await step('the gate stops a version that breaks the contract: it gets no traffic', 'deploy', 'weather', '3.0.0', ...weather('breaking'), '--traffic', '10');
  await step('canary: 20% of new sessions', 'traffic', 'weather', '2.0.0', '20');
  await step('half and half', 'traffic', 'weather', '2.0.0', '50');
  await step('a third version takes 10%; the others keep their proportions', 'deploy', 'weather', '2.1.0', ...weather('v3'), '--traffic', '10');
  await step('2.1.0 misbehaves: roll it back, with the reason', 'rollback', 'weather', '2.1.0', '--reason', 'error rate 31% > 10% over 212 requests');
  await step('2.0.0 is good: promote it', 'promote', 'weather', '2.0.0');
  await step('bad input is refused and changes nothing', 'traffic', 'weather', '2.0.0', '120');
  await step("2.0.0's history", 'history', 'weather', '2.0.0');
  await step('final status', 'status');
} finally {
  await rm(dir, { recursive: true, force: true });
}
