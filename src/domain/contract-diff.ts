/**
 * Contract diff: what a candidate version changes in the tools, prompts and resources agents rely on,
 * compared with the stable (blue) version. Pure; the inputs are what `tools/list`, `prompts/list`,
 * `resources/list` and `resources/templates/list` returned.
 */

/** The parts of an MCP server's surface that clients build on. */
export interface Contract {
  tools: { name: string; inputSchema?: unknown; outputSchema?: unknown }[];
  prompts: { name: string; arguments?: { name: string; required?: boolean }[] }[];
  resources: { uri: string; name?: string }[];
  resourceTemplates: { uriTemplate: string; name?: string }[];
}

export type ChangeKind =
  | 'tool-removed'
  | 'tool-added'
  | 'prompt-removed'
  | 'prompt-added'
  | 'resource-removed'
  | 'resource-added'
  | 'argument-required'
  | 'argument-added'
  | 'argument-removed'
  | 'argument-type-changed'
  | 'argument-type-widened'
  | 'enum-value-removed'
  | 'enum-value-added'
  | 'output-narrowed'
  | 'output-extended';

export interface ContractChange {
  kind: ChangeKind;
  breaking: boolean;
  /** What it is about, for example `tool "search" argument "limit"`. */
  subject: string;
  /** One readable sentence. */
  message: string;
}

export interface ContractDiff {
  breaking: ContractChange[];
  additive: ContractChange[];
}

type Schema = Record<string, unknown>;
const asSchema = (v: unknown): Schema => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Schema) : {});
const props = (s: Schema): Record<string, Schema> => {
  const p = asSchema(s.properties);
  return Object.fromEntries(Object.entries(p).map(([k, v]) => [k, asSchema(v)]));
};
const required = (s: Schema): Set<string> => new Set(Array.isArray(s.required) ? s.required.filter((x): x is string => typeof x === 'string') : []);
const types = (s: Schema): string[] | undefined => {
  const t = s.type;
  if (typeof t === 'string') return t === 'number' ? ['number', 'integer'] : [t];
  if (Array.isArray(t)) return t.flatMap((x) => (x === 'number' ? ['number', 'integer'] : [String(x)]));
  return undefined;
};
const enumOf = (s: Schema): unknown[] | undefined => (Array.isArray(s.enum) ? s.enum : undefined);
const show = (v: unknown): string => JSON.stringify(v);

/** Compares `candidate` with `stable`; a breaking change is one that can fail a client that worked before. */
export function diffContracts(stable: Contract, candidate: Contract): ContractDiff {
  const out: ContractChange[] = [];
  const add = (kind: ChangeKind, breaking: boolean, subject: string, message: string): void => {
    out.push({ kind, breaking, subject, message: `${subject}: ${message}` });
  };

  const newTools = new Map(candidate.tools.map((t) => [t.name, t]));
  for (const old of stable.tools) {
    const subject = `tool "${old.name}"`;
    const now = newTools.get(old.name);
    if (!now) {
      add('tool-removed', true, subject, 'removed');
      continue;
    }
    compareInput(asSchema(old.inputSchema), asSchema(now.inputSchema), subject, 'argument', add);
    if (old.outputSchema !== undefined) compareOutput(asSchema(old.outputSchema), now.outputSchema, subject, add);
  }
  const oldTools = new Set(stable.tools.map((t) => t.name));
  for (const t of candidate.tools) if (!oldTools.has(t.name)) add('tool-added', false, `tool "${t.name}"`, 'added');

  const newPrompts = new Map(candidate.prompts.map((p) => [p.name, p]));
  for (const old of stable.prompts) {
    const subject = `prompt "${old.name}"`;
    const now = newPrompts.get(old.name);
    if (!now) {
      add('prompt-removed', true, subject, 'removed');
      continue;
    }
    const before = new Map((old.arguments ?? []).map((a) => [a.name, a]));
    const after = new Map((now.arguments ?? []).map((a) => [a.name, a]));
    for (const [name, a] of after) {
      const was = before.get(name);
      if (a.required && !was?.required) add('argument-required', true, `${subject} argument "${name}"`, was ? 'is now required' : 'new required argument');
      else if (!was) add('argument-added', false, `${subject} argument "${name}"`, 'new optional argument');
    }
    for (const name of before.keys()) if (!after.has(name)) add('argument-removed', true, `${subject} argument "${name}"`, 'removed');
  }
  const oldPrompts = new Set(stable.prompts.map((p) => p.name));
  for (const p of candidate.prompts) if (!oldPrompts.has(p.name)) add('prompt-added', false, `prompt "${p.name}"`, 'added');

  compareSet(stable.resources.map((r) => r.uri), candidate.resources.map((r) => r.uri), 'resource', add);
  compareSet(stable.resourceTemplates.map((r) => r.uriTemplate), candidate.resourceTemplates.map((r) => r.uriTemplate), 'resource template', add);

  return { breaking: out.filter((c) => c.breaking), additive: out.filter((c) => !c.breaking) };
}

type Add = (kind: ChangeKind, breaking: boolean, subject: string, message: string) => void;

function compareSet(before: string[], after: string[], label: string, add: Add): void {
  const a = new Set(after);
  const b = new Set(before);
  for (const x of before) if (!a.has(x)) add('resource-removed', true, `${label} "${x}"`, 'removed');
  for (const x of after) if (!b.has(x)) add('resource-added', false, `${label} "${x}"`, 'added');
}

/** Input schemas: what the client sends. Narrowing what is accepted breaks clients. */
function compareInput(before: Schema, after: Schema, subject: string, what: string, add: Add): void {
  const bp = props(before);
  const ap = props(after);
  const breq = required(before);
  const areq = required(after);
  for (const [name, schema] of Object.entries(ap)) {
    const s = `${subject} ${what} "${name}"`;
    const was = bp[name];
    if (areq.has(name) && !breq.has(name)) add('argument-required', true, s, was ? 'is now required' : 'new required argument');
    else if (!was) add('argument-added', false, s, 'new optional argument');
    if (was) compareValue(was, schema, s, add);
  }
  for (const name of Object.keys(bp)) {
    // With a schema that accepts extra properties, a dropped argument is ignored; otherwise callers that send it fail.
    if (!(name in ap) && after.additionalProperties === false) add('argument-removed', true, `${subject} ${what} "${name}"`, 'removed');
  }
}

function compareValue(before: Schema, after: Schema, s: string, add: Add): void {
  const bt = types(before);
  const at = types(after);
  if (bt && at) {
    const lost = bt.filter((t) => !at.includes(t) && !(t === 'integer' && at.includes('number')));
    if (lost.length > 0) add('argument-type-changed', true, s, `type changed from ${show(before.type)} to ${show(after.type)}`);
    else if (at.some((t) => !bt.includes(t))) add('argument-type-widened', false, s, `type widened from ${show(before.type)} to ${show(after.type)}`);
  } else if (!bt && at) {
    add('argument-type-changed', true, s, `now restricted to type ${show(after.type)}`);
  }
  const be = enumOf(before);
  const ae = enumOf(after);
  if (ae) {
    const removed = (be ?? []).filter((v) => !ae.some((x) => show(x) === show(v)));
    if (!be) add('enum-value-removed', true, s, `now restricted to ${show(ae)}`);
    else if (removed.length > 0) add('enum-value-removed', true, s, `enum value(s) ${removed.map(show).join(', ')} removed`);
    const added = ae.filter((v) => !(be ?? []).some((x) => show(x) === show(v)));
    if (be && added.length > 0) add('enum-value-added', false, s, `enum value(s) ${added.map(show).join(', ')} added`);
  }
  if (types(before)?.includes('object') || before.properties !== undefined) compareInput(before, after, s, 'property', add);
}

/** Output schemas: what the client receives. Losing a guaranteed field or changing its type breaks clients. */
function compareOutput(before: Schema, afterRaw: unknown, subject: string, add: Add): void {
  if (afterRaw === undefined) {
    add('output-narrowed', true, `${subject} output`, 'output schema removed: structured results are no longer promised');
    return;
  }
  walkOutput(before, asSchema(afterRaw), `${subject} output`, add);
}

function walkOutput(before: Schema, after: Schema, s: string, add: Add): void {
  const bp = props(before);
  const ap = props(after);
  const breq = required(before);
  const areq = required(after);
  for (const [name, was] of Object.entries(bp)) {
    const sub = `${s} property "${name}"`;
    const now = ap[name];
    if (!now) {
      add('output-narrowed', true, sub, 'removed');
      continue;
    }
    if (breq.has(name) && !areq.has(name)) add('output-narrowed', true, sub, 'no longer required (clients may rely on it)');
    const bt = types(was);
    const at = types(now);
    if (bt && at && (bt.some((t) => !at.includes(t)) || at.some((t) => !bt.includes(t)))) {
      add('output-narrowed', true, sub, `type changed from ${show(was.type)} to ${show(now.type)}`);
    }
    if (was.properties !== undefined) walkOutput(was, now, sub, add);
  }
  for (const name of Object.keys(ap)) if (!(name in bp)) add('output-extended', false, `${s} property "${name}"`, 'added');
}
