/**
 * Bad input: one clear line on stderr, a non-zero exit, and nothing changed on disk.
 */
import { strict as assert } from 'node:assert';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/run-cli.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const CASES: [string, string[], RegExp, number][] = [
  ['unknown server', ['promote', 'nope', '1.0.0'], /unknown server "nope" \(registered: solo, weather\)/, 1],
  ['unknown version', ['promote', 'weather', '9.9.9'], /server "weather" has no version "9\.9\.9"/, 1],
  ['unknown version (traffic)', ['traffic', 'weather', '9.9.9', '10'], /server "weather" has no version "9\.9\.9"/, 1],
  ['invalid semver', ['deploy', 'weather', '1.2', '--type', 'stdio', '--command', 'node'], /invalid version "1\.2" for server "weather"/, 2],
  ['percentage above 100', ['traffic', 'weather', '1.1.0', '150'], /integer from 0 to 100, got "150"/, 2],
  ['percentage not an integer', ['traffic', 'weather', '1.1.0', '12.5'], /integer from 0 to 100, got "12\.5"/, 2],
  ['negative percentage', ['traffic', 'weather', '1.1.0', '-5'], /integer from 0 to 100|unknown option/, 2],
  ['deploy --traffic out of range', ['deploy', 'weather', '2.0.0', '--type', 'stdio', '--command', 'node', '--traffic', '101'], /integer from 0 to 100/, 2],
  ['stdio without --command', ['deploy', 'weather', '2.0.0', '--type', 'stdio'], /weather@2\.0\.0: a stdio version needs --command/, 2],
  ['http without --url', ['deploy', 'weather', '2.0.0', '--type', 'http'], /an http version needs --url/, 2],
  ['http with an invalid URL', ['deploy', 'weather', '2.0.0', '--type', 'http', '--url', 'not a url'], /--url "not a url" is not a valid http\(s\) URL/, 2],
  ['sse with a non-http URL', ['deploy', 'weather', '2.0.0', '--type', 'sse', '--url', 'ftp://x/y'], /not a valid http\(s\) URL/, 2],
  ['unknown --type', ['deploy', 'weather', '2.0.0', '--type', 'grpc', '--command', 'x'], /unknown --type "grpc"/, 2],
  ['missing --type', ['deploy', 'weather', '2.0.0', '--command', 'x'], /--type is required/, 2],
  ['duplicate version', ['deploy', 'weather', '1.1.0', '--type', 'stdio', '--command', 'node'], /server "weather" already has version "1\.1\.0"/, 1],
  ['missing argument', ['traffic', 'weather', '1.1.0'], /expected <name> <version> <percentage>/, 2],
  ['too many arguments', ['promote', 'weather', '1.1.0', 'extra'], /expected <name> \[version\], got "weather" "1.1.0" "extra"/, 2],
  ['unknown option', ['status', '--colour'], /unknown option --colour/, 2],
  // (--port became a deploy option with managed versions; --verbose is still none.)
  ['--args word that looks like an option', ['deploy', 'weather', '2.0.0', '--type', 'stdio', '--command', 'node', '--args', 'server.js', '--verbose', '3'], /unknown option --verbose \(words that start with -- go after a bare --/, 2],
  ['managed http version with --port and --url', ['deploy', 'weather', '2.0.0', '--type', 'http', '--command', 'node', '--port', 'auto', '--url', 'http://127.0.0.1:1/mcp'], /--url: a managed version is reached on its own --port; give --port or --url, not both/, 2],
  ['http version with --command and no --port', ['deploy', 'weather', '2.0.0', '--type', 'http', '--command', 'node', '--args', 'server.js'], /--port: an http version started with --command needs --port auto or --port <1-65535>/, 2],
  ['managed http version with a bad --port', ['deploy', 'weather', '2.0.0', '--type', 'http', '--command', 'node', '--port', '70000'], /--port: must be "auto" or a port from 1 to 65535, got "70000"/, 2],
  ['--port on a stdio version', ['deploy', 'weather', '2.0.0', '--type', 'stdio', '--command', 'node', '--port', 'auto'], /--port applies to managed http versions \(--type http --command \.\.\.\), not stdio/, 2],
  ['blue below 100 with no green', ['traffic', 'solo', '1.0.0', '50'], /no green version can take the other 50%/, 1],
  ['rollback of a blue with no previous blue', ['rollback', 'solo', '1.0.0'], /no previous blue version to return to/, 1],
  ['rollback of an inactive version', ['rollback', 'weather', '0.9.0'], /is inactive: nothing to roll back/, 1],
  ['remove the blue', ['remove-version', 'weather', '1.0.0'], /cannot remove blue version "1\.0\.0" of server "weather"/, 1],
  ['traffic for an inactive version', ['traffic', 'weather', '0.9.0', '10'], /inactive and carries no traffic/, 1],
  ['unknown --scope', ['deploy', 'new', '1.0.0', '--type', 'stdio', '--command', 'x', '--scope', 'team'], /unknown --scope "team"/, 2],
  ['write to another scope than the server lives in', ['deploy', 'weather', '3.0.0', '--type', 'stdio', '--command', 'x', '--scope', 'global'], /server "weather" lives in the project scope .* cannot be written to the global scope/, 1],
  ['--env without =', ['deploy', 'weather', '3.0.0', '--type', 'stdio', '--command', 'x', '--env', 'TOKEN'], /--env expects KEY=VALUE, got "TOKEN"/, 2],
  ['invalid server name', ['deploy', 'bad/name', '1.0.0', '--type', 'stdio', '--command', 'x'], /invalid server name "bad\/name"/, 2],
  ['--blue with --traffic', ['deploy', 'weather', '3.0.0', '--type', 'stdio', '--command', 'x', '--blue', '--traffic', '5'], /do not combine it with --traffic/, 2],
  ['--header Host', ['deploy', 'weather', '3.0.0', '--type', 'http', '--url', 'http://127.0.0.1:9/mcp', '--header', 'Host=evil.example'], /deploy weather@3\.0\.0: --header "Host" cannot be set: the router sets it$/m, 2],
  ['--header content-length, any case', ['deploy', 'weather', '3.0.0', '--type', 'http', '--url', 'http://127.0.0.1:9/mcp', '--header', 'content-LENGTH=5'], /--header "content-LENGTH" cannot be set: the router sets it/, 2],
  ['--header Transfer-Encoding', ['deploy', 'weather', '3.0.0', '--type', 'sse', '--url', 'http://127.0.0.1:9/sse', '--header', 'Transfer-Encoding=chunked'], /--header "Transfer-Encoding" cannot be set: the router sets it/, 2],
  ['--header hop-by-hop names', ['deploy', 'weather', '3.0.0', '--type', 'http', '--url', 'http://127.0.0.1:9/mcp', '--header', 'Authorization=Bearer x', '--header', 'connection=close', '--header', 'Proxy-Authorization=x'], /--header "connection" cannot be set: it is hop-by-hop; --header "Proxy-Authorization" cannot be set: it is hop-by-hop/, 2],
  ['--url for stdio', ['deploy', 'weather', '3.0.0', '--type', 'stdio', '--command', 'x', '--url', 'http://h/'], /--url applies to http and sse versions/, 2],
  ['unknown command', ['frobnicate'], /unknown command "frobnicate"/, 2],
  ['history of a version that never existed', ['history', 'weather', '7.0.0'], /server "weather" has no version "7\.0\.0"/, 1],
  ['serve with a request timeout that is no duration', ['serve', '--port', '0', '--request-timeout', 'soon'], /--request-timeout "soon" is not a duration/, 2],
  ['serve with a zero request timeout', ['serve', '--port', '0', '--request-timeout', '0'], /--request-timeout must be at least 1ms/, 2],
  ['a bare number for --interval', ['deploy', 'weather', '3.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--strategy', 'canary', '--interval', '30'], /--interval "30" needs a unit: 30ms, 30s or 30m/, 2],
  ['a bare number for --bake', ['deploy', 'weather', '3.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--strategy', 'bluegreen', '--bake', '60'], /--bake "60" needs a unit/, 2],
  ['a bare number for status --timeout', ['status', 'weather', '--wait', '--timeout', '600'], /--timeout "600" needs a unit: 600ms, 600s or 600m/, 2],
  ['a bare number for serve --request-timeout', ['serve', '--port', '0', '--request-timeout', '15'], /--request-timeout "15" needs a unit/, 2],
  ['a bare number for proxy --rollback-window', ['proxy', 'weather', '--rollback-window', '10'], /--rollback-window "10" needs a unit/, 2],
];

describe('bad input', () => {
  let p: TempProject;
  let registry: string;
  let log: string;
  before(async () => {
    p = await tempProject();
    const ok = async (...args: string[]) => assert.equal((await runCli('rollout', args, { cwd: p.dir, env: p.env })).code, 0, args.join(' '));
    await ok('deploy', 'weather', '0.9.0', '--skip-validation', '--type', 'stdio', '--command', 'node');
    await ok('deploy', 'weather', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--blue');
    await ok('deploy', 'weather', '1.1.0', '--skip-validation', '--type', 'stdio', '--command', 'node', '--traffic', '20');
    await ok('deploy', 'solo', '1.0.0', '--skip-validation', '--type', 'stdio', '--command', 'node');
    registry = await readFile(p.registryFile, 'utf8');
    log = await readFile(p.logFile, 'utf8');
  });
  after(() => p.cleanup());

  for (const [label, args, message, code] of CASES) {
    it(`${label}: exit ${code}, one line naming the problem, nothing changed`, async () => {
      const r = await runCli('rollout', args, { cwd: p.dir, env: p.env });
      assert.equal(r.code, code, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, `expected one line, got:\n${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(await readFile(p.registryFile, 'utf8'), registry);
      assert.equal(await readFile(p.logFile, 'utf8'), log);
    });
  }

  it('--json errors are one JSON document on stdout as well', async () => {
    const r = await runCli('rollout', ['promote', 'weather', '9.9.9', '--json'], { cwd: p.dir, env: p.env });
    assert.equal(r.code, 1);
    assert.deepEqual(r.json(), { ok: false, error: { code: 'not-found', message: 'server "weather" has no version "9.9.9"', details: [] } });
  });
});
