// Runs every compiled `*.test.js` under dist/ with node's test runner. Node 20 has no glob support in
// `node --test`, and a bare directory would also run helpers and fixture servers as if they were tests.
//
// Files named `*.solo.test.js` load the whole machine on purpose (a hundred CLI writers at once): they run
// after the others, one at a time, so that they neither starve the tests that wait on real servers nor are
// starved by them. The closing line adds up both runs: `N passed, N failed`.
import { spawn } from 'node:child_process';
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
const solo = files.filter((f) => f.endsWith('.solo.test.js'));
const shared = files.filter((f) => !f.endsWith('.solo.test.js'));

/** Runs one `node --test` over `list`, passing its TAP output through; resolves with its counts. */
function run(list, concurrency) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=tap', `--test-concurrency=${concurrency}`, '--test-timeout=180000', ...list], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const counts = { pass: 0, fail: 0, cancelled: 0 };
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (tail + chunk.toString('utf8')).split('\n');
      tail = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^# (pass|fail|cancelled) (\d+)$/.exec(line);
        if (m) counts[m[1]] = Number(m[2]);
      }
    });
    child.on('close', (code) => resolve({ ...counts, ok: code === 0 }));
  });
}

const results = [];
if (shared.length > 0) results.push(await run(shared, 2));
if (solo.length > 0) results.push(await run(solo, 1));
const passed = results.reduce((a, r) => a + r.pass, 0);
const failed = results.reduce((a, r) => a + r.fail + r.cancelled, 0);
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(results.every((r) => r.ok) && failed === 0 ? 0 : 1);
