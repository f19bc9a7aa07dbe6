/**
 * The demo (`npm run demo`): a registry in a throwaway project, driven through the real commands, showing
 * the design's workflow with exact numbers. It leaves nothing behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processIo } from '../src/cli/process-io.js';
import { runCli } from '../src/cli/run.js';

const dir = await mkdtemp(join(tmpdir(), 'mcp-rollout-demo-'));
const io = { ...processIo(), cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'xdg') } };
const step = async (title: string, ...argv: string[]): Promise<void> => {
  process.stdout.write(`\n# ${title}\n$ mcp-${argv.join(' ')}\n`);
  const code = await runCli(argv, io);
  if (code !== 0 && !title.includes('refused')) throw new Error(`demo step failed: mcp-${argv.join(' ')}`);
};

try {
  process.stdout.write(`mcp-rollout demo in ${dir}\n`);
  await step('the first version of a server becomes blue at 100%', 'deploy', 'weather', '1.0.0', '--type', 'stdio', '--command', 'node', '--args', 'weather-v1.js');
  await step('a new version arrives as green at 0%', 'deploy', 'weather', '2.0.0', '--type', 'stdio', '--command', 'node', '--args', 'weather-v2.js', '--env', 'API_KEY=not-shown');
  await step('canary: 20% of new sessions', 'traffic', 'weather', '2.0.0', '20');
  await step('half and half', 'traffic', 'weather', '2.0.0', '50');
  await step('a third version takes 10%; the others keep their proportions', 'deploy', 'weather', '2.1.0', '--type', 'stdio', '--command', 'node', '--args', 'weather-v2.1.js', '--traffic', '10');
  await step('2.1.0 misbehaves: roll it back, with the reason', 'rollback', 'weather', '2.1.0', '--reason', 'error rate 31% > 10% over 212 requests');
  await step('2.0.0 is good: promote it', 'promote', 'weather', '2.0.0');
  await step('bad input is refused and changes nothing', 'traffic', 'weather', '2.0.0', '120');
  await step("2.0.0's history", 'history', 'weather', '2.0.0');
  await step('final status', 'status');
} finally {
  await rm(dir, { recursive: true, force: true });
}
