// Runs every compiled `*.test.js` under dist/ with node's test runner. Node 20 has no glob support in
// `node --test`, and a bare directory would also run helpers and fixture servers as if they were tests.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2] ?? 'dist';
const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.js') && !f.split(/[\\/]/).includes('node_modules'))
  .map((f) => join(root, f))
  .sort();
if (files.length === 0) {
  process.stderr.write(`no *.test.js files under ${root}: build first (npm run build)\n`);
  process.exit(1);
}
const run = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=180000', ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);
