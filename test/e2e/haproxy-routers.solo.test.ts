/**
 * Given three `serve` processes on one PostgreSQL database behind a real haproxy (round robin, no stickiness,
 * no connection reuse), as a fleet of routers behind a load balancer, and 100 SDK v1 sessions on HTTP versions
 * (each slot opening a new session every few calls, so new sessions keep arriving for a canary to take):
 * - the calls reach all three routers and are all answered (any router opens any session's id);
 * - a traffic change made with the CLI reaches every router's view (measured, not asserted);
 * - a canary of a version failing half its tool calls is judged on the sum of the three routers' traffic (each
 *   router's rows in the database hold canary calls, and the analysis counted more than any one router saw),
 *   rolled back with its reason recorded, and its sessions move to the blue without a client failure;
 * - the router driving the next rollout is SIGKILLed mid-run: another takes the rollout over once the lease runs
 *   out and finishes it, and the sessions carry on through the other two, only calls in flight on the dead
 *   router failing.
 * Solo: three routers, haproxy, three backends, a cluster and the sessions load the machine on purpose.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { RolloutRecord } from '../../src/domain/types.js';
import { LiveView } from '../../src/registry/live-view.js';
import { PostgresStore } from '../../src/state/postgres-store.js';
import { freePort } from '../helpers/everything-http.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { runCli } from '../helpers/run-cli.js';
import { startServe, type ServeProcess } from '../helpers/serve-process.js';
import { weatherHttp } from '../helpers/weather-http.js';
import { tempProject, type TempProject } from '../helpers/temp-project.js';

const HAPROXY = '/usr/sbin/haproxy';
/**
 * Session slots, each one SDK client at a time. At a call every 300-700 ms they make about 160 calls a second in
 * all, half of what they made here at a call every 50 ms (340 a second, all answered): room on this 2-core
 * machine for the canary, the kill and the test's own reads beside three routers, haproxy and the backends.
 */
const SESSIONS = 100;
/** Calls a session makes before its slot closes it and opens a new one (new sessions follow the weights). */
const CALLS_PER_SESSION = 15;
const PACE_MS: readonly [number, number] = [300, 700];
const BLUE_TEXT = 'sunny, 21°C (v1)';
const V2_TEXT = 'sunny, 21°C (v2)';
const BAD_TEXT = 'weather station offline (faulty)';
const HOSTS = ['host-a', 'host-b', 'host-c'] as const;

/** Sum of mcp_rollout_requests_total over every version and method on one router's /metrics. */
async function routerRequests(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^mcp_rollout_requests_total\{server="weather",[^}]*\} (\d+)$/gm)) n += Number(m[1]);
  return n;
}

/**
 * haproxy as the issue names it: round robin, no stickiness, `http-reuse never`, client and server timeouts long
 * enough for SSE streams. Health checks and `retry-on conn-failure` with redispatch are what any deployment
 * runs: without them a dead router keeps its third of new requests, and connection failures (no request sent)
 * are retried on another router. Requests already sent are not retried: those in flight on a killed router fail.
 */
function haproxyConfig(front: number, routerPorts: readonly number[]): string {
  return [
    'global',
    '  maxconn 1000',
    // One line per request on stdout: the kill step prints those that were not answered 2xx (and how they ended).
    '  log stdout format raw local0',
    'defaults',
    '  mode http',
    '  log global',
    '  option httplog',
    '  timeout connect 2s',
    '  timeout client 10m',
    '  timeout server 10m',
    // Longer than the 30 s the routers advertise (`Keep-Alive: timeout=30`, which haproxy passes on): with 10 s,
    // haproxy closed idle client connections that undici still took for open, and a POST sent on one as it
    // closed failed ("other side closed", UND_ERR_SOCKET, not retried), in bursts 10 s after a burst of new ones.
    '  timeout http-keep-alive 60s',
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure',
    'frontend mcp',
    `  bind 127.0.0.1:${front}`,
    '  default_backend routers',
    'backend routers',
    '  balance roundrobin',
    '  http-reuse never',
    '  option httpchk',
    // The router's Host guard refuses a request without a loopback Host.
    '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1',
    ...routerPorts.map((p, i) => `  server r${i} 127.0.0.1:${p} check inter 300ms fall 1 rise 2`),
    '',
  ].join('\n');
}

interface StatusJson {
  servers: {
    mcpVersionHistory: { lastRollback?: { reason: string } };
    versions: { version: string; status: string; trafficPercentage: number; usage: { requests: number } | null }[];
    rollout: RolloutRecord | null;
  }[];
}

/** One call of a session slot: when it started, on which of the slot's sessions, its answer or its failure. */
interface Call {
  at: number;
  session: number;
  text?: string;
  error?: string;
}

/** A slot of SDK v1 sessions through the balancer, calling `current` until stopped. */
interface Looping {
  calls: Call[];
  texts: Set<string>;
  done: Promise<void>;
}

/** A failed call's message, with its cause's code when it has one (fetch failed: ECONNRESET, UND_ERR_SOCKET...). */
function failure(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return `${(e as Error).message.slice(0, 600)}${cause ? ` (${cause.code ?? cause.message})` : ''}`;
}

/**
 * Unlike test/helpers/mcp-traffic.ts, a failed call does not end the session: the point is that the same
 * session id carries on through whichever router the next request reaches. After `callsPerSession` calls the
 * slot closes its session and opens a new one, which the routers pin by the weights of the moment.
 */
function loopSession(url: string, stopped: () => boolean, paceMs: readonly [number, number], callsPerSession: number): Looping {
  const s: Looping = { calls: [], texts: new Set(), done: Promise.resolve() };
  s.done = (async () => {
    for (let session = 0; !stopped(); session++) {
      const client = new Client({ name: 'haproxy-fleet', version: '1.0.0' });
      const opening = Date.now();
      try {
        await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      } catch (e) {
        // The initialize counts as one of the slot's calls: it may be in flight on a router being killed.
        s.calls.push({ at: opening, session, error: `initialize: ${failure(e)}` });
        await client.close().catch(() => undefined);
        continue;
      }
      try {
        for (let n = 0; n < callsPerSession && !stopped(); n++) {
          const call: Call = { at: Date.now(), session };
          try {
            const r = await client.callTool({ name: 'current', arguments: {} });
            call.text = (r.content as { text: string }[])[0]!.text;
            s.texts.add(call.text);
          } catch (e) {
            call.error = failure(e);
          }
          s.calls.push(call);
          await sleep(paceMs[0] + Math.random() * (paceMs[1] - paceMs[0]));
        }
      } finally {
        await client.close().catch(() => undefined);
      }
    }
  })();
  return s;
}

/** The text `current` answers on a new session opened directly on one router (which version it picks now). */
async function probe(base: string): Promise<string> {
  const client = new Client({ name: 'probe', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp/weather`)));
    const r = await client.callTool({ name: 'current', arguments: {} });
    return (r.content as { text: string }[])[0]!.text;
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** Polls `ok` every `everyMs` until true; throws naming `what` after `limitMs` (a guard, not an assertion on time). */
async function until(ok: () => boolean | Promise<boolean>, what: string, limitMs = 60_000, everyMs = 100): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`not seen within ${limitMs} ms: ${what}`);
    await sleep(everyMs);
  }
}

describe('three routers on one database behind haproxy', () => {
  let cluster: PgCluster;
  let p: TempProject;
  let url: string;
  let store: PostgresStore;
  let view: LiveView;
  let haproxy: ChildProcess | undefined;
  let front = '';
  const haproxySaid: string[] = [];
  const backends: ChildProcess[] = [];
  const routers: ServeProcess[] = [];
  const backendUrl: Record<string, string> = {};
  let stopSessions = false;
  let sessions: Looping[] = [];
  const dirOf = (h: string): string => join(p.dir, h);
  const envOf = (host?: string): NodeJS.ProcessEnv => ({ ...p.env, MCP_ROLLOUT_STORE: url, ...(host ? { MCP_ROLLOUT_HOST: host } : {}) });
  const failures = (): Call[] => sessions.flatMap((s) => s.calls.filter((c) => c.error !== undefined));
  const ops = (command: string, args: string[]): ReturnType<typeof runCli> => runCli(command, args, { cwd: dirOf('ops'), env: envOf() });

  before(async () => {
    cluster = await startPostgres();
    p = await tempProject();
    url = await cluster.createDatabase('haproxy_fleet');
    for (const h of [...HOSTS, 'ops']) await mkdir(dirOf(h));
    for (const variant of ['v1', 'v2', 'faulty']) {
      const w = await weatherHttp(variant);
      backends.push(w.child);
      backendUrl[variant] = w.url;
    }
    const blue = await runCli('deploy', ['weather', '1.0.0', '--type', 'http', '--url', backendUrl.v1!, '--skip-validation'], { cwd: dirOf('ops'), env: envOf() });
    assert.equal(blue.code, 0, blue.stderr);
    const green = await runCli('deploy', ['weather', '2.0.0', '--type', 'http', '--url', backendUrl.v2!, '--skip-validation', '--traffic', '0'], { cwd: dirOf('ops'), env: envOf() });
    assert.equal(green.code, 0, green.stderr);
    for (const h of HOSTS) {
      const r = await startServe(await freePort(), { cwd: dirOf(h), env: envOf(h) });
      r.child.stdout!.resume();
      r.child.stderr!.resume();
      routers.push(r);
    }
    const frontPort = await freePort();
    const cfg = join(p.dir, 'haproxy.cfg');
    await writeFile(cfg, haproxyConfig(frontPort, routers.map((r) => Number(new URL(r.base).port))));
    haproxy = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
    haproxy.stdout!.setEncoding('utf8').on('data', (d: string) => haproxySaid.push(d));
    haproxy.stderr!.setEncoding('utf8').on('data', (d: string) => haproxySaid.push(d));
    front = `http://127.0.0.1:${frontPort}`;
    await until(async () => {
      if (haproxy!.exitCode !== null) throw new Error(`haproxy exited with ${haproxy!.exitCode}: ${haproxySaid.join('')}`);
      return (await fetch(`${front}/healthz`).then((r) => r.ok, () => false));
    }, 'haproxy answers on its front port', 10_000, 50);
    store = new PostgresStore(url);
    view = new LiveView(store);
    await view.start();
  });

  after(async () => {
    stopSessions = true;
    await Promise.allSettled(sessions.map((s) => s.done));
    view?.stop();
    await store?.close();
    if (haproxy && haproxy.exitCode === null && haproxy.signalCode === null) {
      const gone = new Promise((r) => haproxy!.once('exit', r));
      haproxy.kill('SIGTERM');
      await gone;
    }
    for (const r of routers) await r.stop();
    for (const c of backends) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await gone;
      }
    }
    await p?.cleanup();
    await cluster?.stop();
  });

  it(`${SESSIONS} SDK sessions through haproxy are answered by all three routers, every call answered`, async (t) => {
    const before = await Promise.all(routers.map((r) => routerRequests(r.base)));
    sessions = Array.from({ length: SESSIONS }, () => loopSession(`${front}/mcp/weather`, () => stopSessions, PACE_MS, CALLS_PER_SESSION));
    await until(() => sessions.every((s) => s.calls.length >= 10), `every session made 10 calls (failures: ${JSON.stringify(failures().slice(0, 3))})`);
    const grew = (await Promise.all(routers.map((r) => routerRequests(r.base)))).map((n, i) => n - before[i]!);
    t.diagnostic(`requests per router: ${grew.join(', ')}`);
    for (const [i, n] of grew.entries()) assert.ok(n > 0, `router ${HOSTS[i]} served none of the sessions' requests`);
    assert.deepEqual(failures(), [], 'no call failed while the sessions moved between routers');
    assert.deepEqual([...new Set(sessions.flatMap((s) => [...s.texts]))], [BLUE_TEXT], 'every call answered by the blue');
  });

  it('a traffic change made with the CLI reaches all three routers (new sessions on each pick the new weights)', async (t) => {
    for (const r of routers) assert.equal(await probe(r.base), BLUE_TEXT, `${r.base} picks the blue before the change`);
    // The test's own view hears the commit's NOTIFY: that is when the change was made, give or take a ms.
    let committedAt = 0;
    const green = (): number | undefined => view.get('weather')?.versions.find((v) => v.version === '2.0.0')?.trafficPercentage;
    const onChange = (): void => {
      if (committedAt === 0 && green() === 100) committedAt = Date.now();
    };
    view.on('change', onChange);
    const seenAt: (number | undefined)[] = routers.map(() => undefined);
    let cliDone = false;
    const watchers = routers.map(async (r, i) => {
      await until(async () => {
        if ((await probe(r.base)) !== 'sunny, 21°C (v2)') return false;
        seenAt[i] = Date.now();
        return true;
      }, `${HOSTS[i]} sends new sessions to 2.0.0 after the traffic change`, 30_000, 0);
    });
    try {
      const cliStart = Date.now();
      const c = await runCli('traffic', ['weather', '2.0.0', '100'], { cwd: dirOf('ops'), env: envOf() });
      cliDone = true;
      assert.equal(c.code, 0, c.stderr);
      await Promise.all(watchers);
      const from = (at: number): string => seenAt.map((s, i) => `${HOSTS[i]} ${s! - at} ms`).join(', ');
      t.diagnostic(`CLI ran ${Date.now() - cliStart} ms in all; seen after the commit's NOTIFY reached the test: ${committedAt ? from(committedAt) : 'no notice seen'}; after the CLI's start: ${from(cliStart)}`);
    } finally {
      view.off('change', onChange);
      assert.ok(cliDone, 'the traffic command ran');
    }
  });

  it('a canary failing half its tool calls, under that load, is judged on all three routers\' traffic and rolled back; its sessions move to the blue', async (t) => {
    // Given 2.0.0 blue (the traffic change above sent every new session to it already).
    const promoted = await ops('promote', ['weather', '2.0.0']);
    assert.equal(promoted.code, 0, promoted.stderr);
    // The fleet's rows as the test reads them from the database while the canary runs: each router's canary tool
    // calls (cumulative), with when the read was sent and when it returned.
    const perRouter = async (): Promise<number[]> => {
      const reports = await store.readTelemetry(60_000);
      return HOSTS.map((h) => reports.find((r) => r.router.host === h)?.series.find((x) => x.server === 'weather' && x.version === '2.1.0')?.counters.toolCalls ?? 0);
    };
    const reads: { sent: number; back: number; calls: number[] }[] = [];
    let reading = true;
    const reader = (async () => {
      while (reading) {
        const sent = Date.now();
        const calls = await perRouter();
        reads.push({ sent, back: Date.now(), calls });
        await sleep(100);
      }
    })();
    const rollout = (): RolloutRecord | undefined => view.get('weather')?.rollout;
    let ended: RolloutRecord;
    let rolledBackAt: number;
    try {
      // 60 tool calls before the tool error rate is judged (about 20 per router; a failure is judged as soon as
      // they are there, the 30 s interval only bounds a pass): each router's share has reached the database then.
      const d = await ops('deploy', ['weather', '2.1.0', '--type', 'http', '--url', backendUrl.faulty!, '--skip-validation', '--strategy', 'canary', '--steps', '50,100', '--interval', '30s', '--min-tool-calls', '60', '--detach']);
      assert.equal(d.code, 0, d.stdout + d.stderr);
      assert.match(d.stdout, /one of the running routers \((http:\/\/127\.0\.0\.1:\d+(, )?){3}\) drives it/, 'deploy names the three routers of the database');
      await until(() => rollout()?.spec.version === '2.1.0' && rollout()!.status.phase === 'Degraded', `the canary of 2.1.0 is rolled back (last seen: ${JSON.stringify(rollout()?.status)})`);
      rolledBackAt = Date.now();
      ended = rollout()!;
    } finally {
      reading = false;
      await reader;
    }
    const after = await perRouter();
    t.diagnostic(`${ended.status.message}; driven by ${ended.driver?.host}`);
    // The analysis summed the fleet's calls: "tool error rate 50% > 25% over N tool calls".
    const m = /^rolled back: tool error rate \d+(\.\d)?% > 25% over (\d+) tool calls/.exec(ended.status.message);
    assert.ok(m, `rolled back for its tool errors: ${ended.status.message}`);
    const judged = Number(m[2]);
    assert.ok(ended.events.some((e) => e.type === 'rolled-back' && e.message === ended.status.message), 'the rollback is in the rollout\'s events');
    const analysedAt = ended.status.lastAnalysis!.at;

    // Counters only grow: what every router had written before the analysis began its read is part of what it read.
    const before = reads.filter((r) => r.back < analysedAt).at(-1);
    assert.ok(before, 'the test read the fleet\'s rows before the analysis');
    t.diagnostic(`canary tool calls per router (${HOSTS.join(', ')}): ${before.calls.join(', ')} ${analysedAt - before.back} ms before the analysis, which judged ${judged}; ${after.join(', ')} once rolled back`);
    for (const [i, n] of before.calls.entries()) assert.ok(n > 0, `router ${HOSTS[i]}'s canary calls had reached the database before the analysis read it`);
    assert.ok(judged > Math.max(...before.calls), `the analysis (${judged} tool calls) counted more than any one router had served: it summed them`);
    assert.ok(judged <= after.reduce((a, b) => a + b, 0), 'and no more than the three served in all');

    // Recorded where a person looks, from the ops directory: status --json and the version's history.
    const status = (await ops('status', ['weather', '--json'])).json<StatusJson>().servers[0]!;
    const reason = ended.status.message.replace('rolled back: ', '');
    assert.equal(status.rollout?.status.phase, 'Degraded');
    assert.equal(status.mcpVersionHistory.lastRollback?.reason, reason);
    assert.deepEqual(status.versions.map((v) => `${v.version} ${v.status} ${v.trafficPercentage}`), ['1.0.0 inactive 0', '2.0.0 blue 100', '2.1.0 inactive 0']);
    const history = (await ops('history', ['weather', '2.1.0', '--json'])).json<{ entries: { kind: string; reason?: string }[] }>();
    assert.ok(history.entries.some((e) => e.kind === 'rollback' && e.reason === reason), `the history records the rollback with its reason: ${JSON.stringify(history.entries)}`);

    // mcp-status shows the same sum (once the canary's moved sessions have stopped adding to it).
    const requests = async (): Promise<number> =>
      (await store.readTelemetry(60_000)).reduce((n, r) => n + (r.series.find((x) => x.server === 'weather' && x.version === '2.1.0')?.counters.requests ?? 0), 0);
    let shown = -1;
    let expected = 0;
    for (let i = 0; i < 30; i++) {
      expected = await requests();
      const v = (await ops('status', ['weather', '--json'])).json<StatusJson>().servers[0]!.versions.find((x) => x.version === '2.1.0');
      shown = v?.usage?.requests ?? 0;
      if (shown === expected) break;
      await sleep(500);
    }
    assert.equal(shown, expected, 'mcp-status sums the three routers\' canary requests');

    // The canary's sessions carry on: each slot calls on after the rollback, nothing failed, and sessions that were
    // answered by the bad version were moved to the blue on the same session id.
    const mark = sessions.map((s) => s.calls.filter((c) => c.at >= rolledBackAt).length);
    await until(() => sessions.every((s, i) => s.calls.filter((c) => c.at >= rolledBackAt).length >= mark[i]! + 3), 'every session slot made 3 calls after the rollback');
    const failedHere = failures();
    if (failedHere.length > 0) t.diagnostic(`failed: ${failedHere.length}, from the rollback: ${failedHere.map((f) => f.at - rolledBackAt).join(', ')} ms\n${[...new Set(failedHere.map((f) => f.error!.replace(/"id":\d+/, '"id":_')))].join('\n')}`);
    assert.deepEqual(failedHere, [], 'no call failed through the canary and its rollback');
    const bad = sessions.flatMap((s) => s.calls.filter((c) => c.text === BAD_TEXT));
    assert.ok(bad.length > 0, 'some sessions were answered by the canary');
    const moved = sessions.flatMap((s) => [...new Set(s.calls.filter((c) => c.text === BAD_TEXT).map((c) => c.session))].filter((n) => s.calls.some((c) => c.session === n && c.text === V2_TEXT && c.at > s.calls.find((b) => b.session === n && b.text === BAD_TEXT)!.at)));
    const late = sessions.flatMap((s) => s.calls.filter((c) => c.at > rolledBackAt && c.text?.includes('(faulty)')));
    t.diagnostic(`calls answered by the canary: ${bad.length} with its tool error; sessions moved from it to the blue: ${moved.length}; canary answers to calls started after the test saw the rollback: ${late.length}`);
    assert.ok(moved.length > 0, 'a session answered by the canary was moved to the blue and carried on');
    for (const [i, s] of sessions.entries()) assert.notEqual(s.calls.at(-1)?.text, BAD_TEXT, `session slot ${i} is off the rolled-back canary`);
  });

  it('the router driving a rollout is SIGKILLed mid-run: another takes the rollout over within a lease and finishes it; sessions carry on through the other two, only calls in flight on it failing', async (t) => {
    const mark = sessions.map((s) => s.calls.length);
    await until(() => sessions.every((s, i) => s.calls.length >= mark[i]! + 5), 'every session made 5 more calls before the rollout and the kill');
    // Two steps of 4 s: the kill comes right after a router claims it, so it is still running then.
    const d = await ops('deploy', ['weather', '3.0.0', '--type', 'http', '--url', backendUrl.v2!, '--skip-validation', '--strategy', 'canary', '--steps', '50,100', '--interval', '4s', '--detach']);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    const rollout = (): RolloutRecord | undefined => view.get('weather')?.rollout;
    await until(() => rollout()?.spec.version === '3.0.0' && rollout()!.driver !== undefined, 'a router claims the detached rollout of 3.0.0');
    const first = rollout()!.driver!;
    const victim = routers.find((r) => r.child.pid === first.pid)!;
    assert.ok(victim, `the driver ${JSON.stringify(first)} is one of the routers`);
    assert.equal(first.host, HOSTS[routers.indexOf(victim)], 'recorded with its host');
    assert.deepEqual((await store.lease('weather'))?.holder, first, 'the driver holds the lease');
    const survivors = routers.filter((r) => r !== victim);
    assert.equal(rollout()?.status.phase, 'Progressing', `the rollout is still running at the kill: ${JSON.stringify(rollout()?.status)}`);
    const survivorsBefore = await Promise.all(survivors.map((r) => routerRequests(r.base)));
    const exited = new Promise((r) => victim.child.once('exit', r));
    victim.child.kill('SIGKILL');
    await exited;
    const exitedAt = Date.now();

    await until(() => survivors.some((r) => rollout()?.driver?.pid === r.child.pid), `a surviving router takes the rollout over (last seen: ${JSON.stringify(rollout()?.driver)})`, 60_000);
    t.diagnostic(`taken over ${Date.now() - exitedAt} ms after the SIGKILL (lease 10 s), by ${rollout()!.driver!.host}`);
    assert.notEqual(rollout()!.driver!.host, first.host, 'driven from another "host" now');
    assert.deepEqual((await store.lease('weather'))?.holder, rollout()!.driver, 'the new driver holds the lease');
    const taker = rollout()!.driver!;
    await until(() => rollout()!.status.phase === 'Healthy' || rollout()!.status.phase === 'Degraded', 'the rollout ends under the new driver', 90_000);
    t.diagnostic(`ended ${rollout()!.status.phase} ${Date.now() - exitedAt} ms after the SIGKILL: ${rollout()!.status.message}`);
    assert.deepEqual(rollout()!.driver, taker, 'ended by the router that took it over');
    assert.equal(rollout()!.status.phase, 'Healthy', `3.0.0 (the blue's own backend) is promoted: ${rollout()!.status.message}`);

    const okAfter = (s: Looping): number => s.calls.filter((c) => c.at >= exitedAt && c.error === undefined).length;
    await until(() => sessions.every((s) => okAfter(s) >= 10), `every session answered 10 calls after the kill (failures: ${JSON.stringify(failures().slice(0, 3))})`);
    stopSessions = true;
    await Promise.all(sessions.map((s) => s.done));
    const failed = failures();
    t.diagnostic(`calls: ${sessions.reduce((n, s) => n + s.calls.length, 0)}, failed: ${failed.length} (${[...new Set(failed.map((f) => f.error))].join(' | ')}), at ${failed.map((f) => f.at - exitedAt).join(', ')} ms from the exit`);
    // haproxy's log line per request: its termination state (`----` for a normal end) counted by kind.
    const ends = new Map<string, number>();
    for (const m of haproxySaid.join('').matchAll(/ \d{3} \d+ - - (\S{4}) .*"(GET|POST|DELETE) /g)) if (m[1] !== '----') ends.set(`${m[2]} ${m[1]}`, (ends.get(`${m[2]} ${m[1]}`) ?? 0) + 1);
    // A client that closes its GET stream sends a FIN, which haproxy takes for a half-close while it forwards the
    // stream: it sees the client gone (CD) only when a write fails, at the router's second 15 s keep-alive comment.
    t.diagnostic(`haproxy requests not ended normally: ${[...ends].map(([k, n]) => `${k} ${n}`).join(', ') || 'none'} (SD on GET: streams cut by the kill, closed clients' included; CD: streams closed by their client, seen 30 s later)`);
    assert.ok(failed.length <= SESSIONS, `at most one call per session failed (in flight on the killed router): ${failed.length}`);
    for (const [i, s] of sessions.entries()) {
      assert.deepEqual(s.calls.filter((c) => c.at >= exitedAt && c.error !== undefined), [], `session ${i}'s calls after the kill all succeeded`);
    }
    const grew = (await Promise.all(survivors.map((r) => routerRequests(r.base)))).map((n, i) => n - survivorsBefore[i]!);
    for (const n of grew) assert.ok(n > 0, 'both surviving routers carried the sessions');
    t.diagnostic(`requests per surviving router after the kill: ${grew.join(', ')}`);
  });
});
