import { AppError } from '../../errors.js';
import { LiveView } from '../../registry/live-view.js';
import { DEFAULT_PROXY_OPTIONS, StdioProxy } from '../../router/stdio-proxy.js';
import { seededDraws } from '../../domain/weighted-choice.js';
import { POINTING_HINT, projectStateDir } from '../../state/scope-paths.js';
import { startTelemetryWriter } from '../../telemetry/telemetry-files.js';
import { VersionMetrics } from '../../telemetry/version-metrics.js';
import type { Command } from '../command.js';
import { durationOption } from '../rollout-options.js';
import { promotionOption } from '../promotion-option.js';

export const proxyCommand: Command = {
  name: 'proxy',
  summary: 'be the MCP server <name> over stdio for one client, routing its session to a version chosen by weight',
  usage: '<name> [--request-timeout 5m] [--rollback-window 10m] [--max-message-bytes <n>] [--seed <n>] [--on-promote move|drain]',
  help: [
    'A client configuration entry runs it in place of the server:',
    '  {"mcpServers": {"weather": {"command": "mcp-rollout", "args": ["proxy", "weather"]}}}',
    'The session stays on its version; after a rollback it moves to a good version by itself, and after a promotion',
    'to the new blue (the old backend stays up for --rollback-window, so a rollback returns to it at once; 0 turns',
    'that off; --on-promote drain keeps the session on its version instead). Only JSON-RPC goes to stdout; notices go to stderr. Telemetry is written to .mcp-rollout/telemetry/',
    'every second, when the project has a .mcp-rollout/ directory (the proxy never creates it).',
    'A server the registry does not define: every request gets an error naming the files looked in and how to point',
    'the proxy (MCP_ROLLOUT_PROJECT_DIR, or a server deployed with --scope global); the proxy runs until stdin closes.',
  ].join('\n'),
  spec: { positionals: ['name'], options: { 'request-timeout': 'string', 'rollback-window': 'string', 'max-message-bytes': 'string', seed: 'string', 'on-promote': 'string' } },
  async run(args, ctx) {
    const name = args.positionals.name!;
    const streams = ctx.io.streams;
    if (!streams) throw new AppError('usage', 'proxy needs the process\'s own stdin and stdout');
    const bytes = args.strings['max-message-bytes'];
    if (bytes !== undefined && (!/^\d+$/.test(bytes) || Number(bytes) < 1024)) throw new AppError('usage', `--max-message-bytes must be an integer of at least 1024, got "${bytes}"`);
    const seed = args.strings.seed;
    if (seed !== undefined && !/^\d+$/.test(seed)) throw new AppError('usage', `--seed must be a non-negative integer, got "${seed}"`);
    const requestTimeoutMs = durationOption(args, 'request-timeout', DEFAULT_PROXY_OPTIONS.requestTimeoutMs, 1);
    const rollbackWindowMs = durationOption(args, 'rollback-window', DEFAULT_PROXY_OPTIONS.rollbackWindowMs);
    const onPromote = promotionOption(args, DEFAULT_PROXY_OPTIONS.onPromote);
    const store = ctx.registry().store;
    const view = new LiveView(store);
    await view.start();
    const metrics = new VersionMetrics();
    const stopWriting = startTelemetryWriter(projectStateDir({ cwd: ctx.io.cwd, env: ctx.io.env }), metrics);
    const proxy = new StdioProxy(name, view, streams.stdin, streams.stdout, metrics, {
      ...DEFAULT_PROXY_OPTIONS,
      requestTimeoutMs,
      rollbackWindowMs,
      onPromote,
      maxMessageBytes: bytes === undefined ? DEFAULT_PROXY_OPTIONS.maxMessageBytes : Number(bytes),
      ...(seed === undefined ? {} : { draw: seededDraws(Number(seed)) }),
      notice: (text) => ctx.io.stderr(`mcp-rollout proxy ${name}: ${text}\n`),
      unknownServerHint: () => {
        const known = view.names();
        const registered = known.length === 0 ? 'no registry file defines any server' : `registered: ${known.join(', ')}`;
        return `${registered}; looked in ${store.whereLooked?.() ?? 'the registry'}; ${POINTING_HINT}`;
      },
    });
    // SIGINT/SIGTERM (the io's signal) and SIGHUP (a closed terminal) end the backends' process groups before
    // the proxy goes; otherwise they would outlive it. SIGHUP only when serving this process's own stdin.
    const stop = (): void => void proxy.stop();
    ctx.io.signal?.addEventListener('abort', stop, { once: true });
    const hangup = streams.stdin === process.stdin ? stop : undefined;
    if (hangup) process.once('SIGHUP', hangup);
    try {
      const running = proxy.run();
      if (ctx.io.signal?.aborted) stop();
      await running;
    } finally {
      ctx.io.signal?.removeEventListener('abort', stop);
      if (hangup) process.off('SIGHUP', hangup);
      view.stop();
      await stopWriting();
    }
  },
};
