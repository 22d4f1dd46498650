import { isDeepStrictEqual } from 'node:util';
import type { ParseInput, ScalerDefinition } from './definition.js';
import type { Field, Source } from './metadata.js';
import { ScalerConfigError, type ScalerContext, type ScalerDeps, type TriggerSpec } from './scaler.js';

/**
 * What every scaler must do, whatever its source: the checks the conformance test runs against each
 * definition in the registry. Each check returns the problems it found ([] when the scaler conforms).
 */
export interface ConformanceCheck {
  readonly name: string;
  run(): Promise<string[]>;
}

/** Real pools and coalescer around a test clock; each check gets fresh ones. */
export type DepsFactory = (overrides: Partial<ScalerDeps>) => ScalerDeps;

/** The KEDA convention every scaler's parse errors follow. */
const errorPrefix = /^error parsing [\w -]+ metadata: /;

/** How long a read against the example's absent server may take before the check gives up on it. */
const readTimeoutMs = 2000;

export function conformanceChecks(definition: ScalerDefinition<unknown>, type: string, deps: DepsFactory): ConformanceCheck[] {
  const example = definition.example;
  const trigger: TriggerSpec = { type, metadata: { ...example.metadata } };
  const input = (overrides: Partial<ParseInput> = {}): ParseInput => ({
    trigger,
    triggerIndex: 0,
    authParams: example.authParams ?? {},
    resolvedEnv: {},
    offline: false,
    ...overrides,
  });
  const checks: Array<[string, () => Promise<string[]> | string[]]> = [
    ['parses its example and applies the declared defaults', () => defaultsApplied(definition, input())],
    ['prefixes every parse error as KEDA does', () => errorsPrefixed(definition, input({ trigger: { type, metadata: {} }, authParams: {} }))],
    [
      'never echoes a value from the TriggerAuthentication or the target env in parse errors',
      () => parseRedacts(definition, trigger, example.authParams ?? {}),
    ],
    ['keeps secrets out of a failed read', () => readRedacts(definition, trigger, example.authParams ?? {}, deps)],
    ['refuses a metric name it did not publish', () => unknownMetricRefused(definition, trigger, example.authParams ?? {}, deps)],
    ['closes once however often close() is called, releasing its connections', () => closeIdempotent(definition, trigger, example.authParams ?? {}, deps)],
  ];
  return checks.map(([name, run]) => ({ name, run: async () => run() }));
}

function namesOf(key: string, f: Field<unknown>): readonly string[] {
  return f.names ?? [key];
}

function defaultsApplied(definition: ScalerDefinition<unknown>, input: ParseInput): string[] {
  const { config, errors } = definition.parse(input);
  if (errors.length > 0) return [`the example does not parse: ${errors.join('; ')}`];
  const given = new Set([...Object.keys(input.trigger.metadata), ...Object.keys(input.authParams)]);
  const values = config as Record<string, unknown>;
  return Object.entries(definition.schema).flatMap(([key, f]) => {
    if (f.defaultValue === undefined || namesOf(key, f).some((n) => given.has(n))) return [];
    return isDeepStrictEqual(values[key], f.defaultValue)
      ? []
      : [`${key} is ${JSON.stringify(values[key])}, not its default ${JSON.stringify(f.defaultValue)}`];
  });
}

function errorsPrefixed(definition: ScalerDefinition<unknown>, input: ParseInput): string[] {
  const { errors } = definition.parse(input);
  if (errors.length === 0) return ['an empty trigger parses without a problem; required fields are not required'];
  const prefixes = new Set(errors.map((e) => errorPrefix.exec(e)?.[0]));
  if (prefixes.has(undefined)) return errors.filter((e) => !errorPrefix.test(e)).map((e) => `not prefixed: ${e}`);
  return prefixes.size === 1 ? [] : [`more than one prefix: ${[...prefixes].join(' | ')}`];
}

/** A value no parser accepts and no message contains by chance. */
function marker(key: string): string {
  return `conformance-${key}-\u2603-x9`;
}

/** Where the check puts a field's value: the TriggerAuthentication or the target's env when it may come from there. */
function hiddenSource(f: Field<unknown>): Exclude<Source, 'triggerMetadata'> | undefined {
  if (f.from.includes('authParams')) return 'authParams';
  if (f.from.includes('resolvedEnv')) return 'resolvedEnv';
  return undefined;
}

/** The example with `value(key)` placed, for every field `pick` selects, where a Secret would hold it. */
function withHiddenValues(
  definition: ScalerDefinition<unknown>,
  trigger: TriggerSpec,
  authParams: Readonly<Record<string, string>>,
  pick: (f: Field<unknown>) => boolean,
) {
  const metadata: Record<string, string> = { ...trigger.metadata };
  const auth: Record<string, string> = { ...authParams };
  const env: Record<string, string> = {};
  const placed: string[] = [];
  for (const [key, f] of Object.entries(definition.schema)) {
    if (!pick(f)) continue;
    const source = hiddenSource(f) ?? (f.secret ? 'triggerMetadata' : undefined);
    if (source === undefined) continue;
    const name = namesOf(key, f)[0] ?? key;
    for (const n of namesOf(key, f)) {
      delete metadata[n];
      delete auth[n];
    }
    const value = marker(key);
    placed.push(value);
    if (source === 'authParams') auth[name] = value;
    else if (source === 'resolvedEnv') {
      metadata[`${name}FromEnv`] = `CONFORMANCE_${key.toUpperCase()}`;
      env[`CONFORMANCE_${key.toUpperCase()}`] = value;
    } else metadata[name] = value;
  }
  return { trigger: { ...trigger, metadata }, authParams: auth, resolvedEnv: env, placed };
}

function leaks(texts: readonly string[], placed: readonly string[]): string[] {
  return texts.flatMap((text) => placed.filter((value) => text.includes(value)).map((value) => `"${value}" shown in: ${text}`));
}

function parseRedacts(definition: ScalerDefinition<unknown>, trigger: TriggerSpec, authParams: Readonly<Record<string, string>>): string[] {
  const hidden = withHiddenValues(definition, trigger, authParams, (f) => f.secret || hiddenSource(f) !== undefined);
  const { errors } = definition.parse({
    trigger: hidden.trigger,
    triggerIndex: 0,
    authParams: hidden.authParams,
    resolvedEnv: hidden.resolvedEnv,
    offline: false,
  });
  return leaks(errors, hidden.placed);
}

/** Builds the scaler as the operator does; a ScalerConfigError's message is checked for leaks too. */
function build(definition: ScalerDefinition<unknown>, context: ScalerContext, deps: ScalerDeps) {
  const { config, errors } = definition.parse({ ...context, offline: false });
  if (errors.length > 0) throw new ScalerConfigError(context.trigger.type, context.triggerIndex, errors);
  return definition.create(config, context, deps);
}

function contextOf(trigger: TriggerSpec, authParams: Readonly<Record<string, string>>, resolvedEnv: Readonly<Record<string, string>> = {}): ScalerContext {
  return { triggerIndex: 0, trigger, authParams, resolvedEnv, namespace: 'conformance' };
}

async function readRedacts(
  definition: ScalerDefinition<unknown>,
  trigger: TriggerSpec,
  authParams: Readonly<Record<string, string>>,
  deps: DepsFactory,
): Promise<string[]> {
  const hidden = withHiddenValues(definition, trigger, authParams, (f) => f.secret);
  const d = deps({ requestTimeoutMs: readTimeoutMs });
  let scaler;
  try {
    scaler = build(definition, contextOf(hidden.trigger, hidden.authParams, hidden.resolvedEnv), d);
  } catch (err) {
    return [...leaks([messageChain(err)], hidden.placed), `the example with its secrets set does not build: ${messageChain(err)}`];
  }
  const problems: string[] = [];
  for (const spec of scaler.metricSpecs) {
    const metricName = spec.kind === 'External' ? spec.metricName : spec.resource;
    problems.push(
      ...(await scaler.read(metricName).then(
        () => [],
        (err: unknown) => leaks([messageChain(err)], hidden.placed),
      )),
    );
  }
  await scaler.close();
  await d.connections.closeAll();
  return problems;
}

async function unknownMetricRefused(
  definition: ScalerDefinition<unknown>,
  trigger: TriggerSpec,
  authParams: Readonly<Record<string, string>>,
  deps: DepsFactory,
): Promise<string[]> {
  const d = deps({ requestTimeoutMs: readTimeoutMs });
  const scaler = build(definition, contextOf(trigger, authParams), d);
  const outcome = await scaler.read('s0-conformance-no-such-metric').then(
    (reading) => [`read a metric it never published: ${JSON.stringify(reading)}`],
    (err: unknown) => (messageChain(err).includes('s0-conformance-no-such-metric') ? [] : [`the refusal does not name the metric: ${messageChain(err)}`]),
  );
  await scaler.close();
  return outcome;
}

async function closeIdempotent(
  definition: ScalerDefinition<unknown>,
  trigger: TriggerSpec,
  authParams: Readonly<Record<string, string>>,
  deps: DepsFactory,
): Promise<string[]> {
  const d = deps({ requestTimeoutMs: readTimeoutMs });
  const scaler = build(definition, contextOf(trigger, authParams), d);
  const outcomes = await Promise.allSettled([scaler.close(), scaler.close()]);
  outcomes.push(...(await Promise.allSettled([scaler.close()])));
  const problems = outcomes.flatMap((o) => (o.status === 'rejected' ? [`close() failed: ${messageChain(o.reason)}`] : []));
  if (d.connections.size !== 0) problems.push(`${d.connections.size} connection(s) still open after close()`);
  return problems;
}

/** An error's message and its causes' messages, which loggers print too. */
function messageChain(err: unknown, depth = 0): string {
  if (!(err instanceof Error) || depth > 5) return String(err);
  return err.cause === undefined ? err.message : `${err.message} <- ${messageChain(err.cause, depth + 1)}`;
}
