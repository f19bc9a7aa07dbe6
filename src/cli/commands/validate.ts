import { validateAgainstBlue } from '../../pipeline/gated-deploy.js';
import { findVersion } from '../../domain/types.js';
import { AppError } from '../../errors.js';
import type { Command } from '../command.js';
import { renderReport, validationOptions, VALIDATION_OPTIONS, VALIDATION_USAGE } from '../validation-options.js';

export const validateCommand: Command = {
  name: 'validate',
  summary: 'start a registered version and check it: handshake, discovery, tool calls, errors, latency, contract, shutdown',
  usage: `<name> <version> ${VALIDATION_USAGE} [--json]`,
  help: [
    'Exit 0 when every check passes, 1 otherwise. The outcome and the contract seen are stored with the version.',
    'A version the gate refused that now passes is put right: green at 0% beside the blue, or blue at 100% when',
    'the server has no blue (its first version was refused).',
    'A smoke file lists tool calls and what their results must show:',
    '  {"calls": [{"tool": "echo", "arguments": {"message": "hi"}, "expect": {"isError": false, "text": "hi"}}]}',
    'Example:',
    '  mcp-rollout validate weather 1.1.0 --smoke smoke.json',
  ].join('\n'),
  spec: { positionals: ['name', 'version'], options: { ...VALIDATION_OPTIONS, json: 'boolean' } },
  async run(args, ctx) {
    const { name, version } = args.positionals as { name: string; version: string };
    const options = await validationOptions(args, ctx.io.cwd);
    const registry = ctx.registry();
    const { server } = await registry.get(name);
    const record = findVersion(server, version);
    if (!record) throw new AppError('not-found', `server "${name}" has no version "${version}"`);
    const { report, summary } = await validateAgainstBlue(server, version, record, options);
    const change = await registry.recordValidation(name, version, summary, report.contract);
    // A version the gate refused and that now passes has moved (green, or blue for a server without one): say where.
    const moved = change.changes.some((c) => c.type === 'server:status-changed');
    const now = findVersion(change.server, version);
    if (args.flags.json) {
      ctx.printJson({ ok: report.ok, server: name, version, checks: report.checks, diff: report.diff ?? null, ...(now ? { status: now.status, trafficPercentage: now.trafficPercentage } : {}) });
    } else {
      ctx.print(`validating ${name}@${version}`, ...renderReport(report, ctx.style), report.ok ? 'all checks passed' : `${summary.failures.length} check(s) failed`);
      if (moved) ctx.print(...change.messages);
    }
    return report.ok ? 0 : 1;
  },
};
