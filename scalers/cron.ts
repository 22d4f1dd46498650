import { Cron } from 'croner';
import type { ParseInput, ParseResult, ScalerDefinition } from './definition.js';
import { metadataInput, prefixed } from './definition.js';
import { checkRules, field, parseMetadata, type MetadataOf, type Rule } from './metadata.js';
import { assertOwnMetric, externalMetricSpec, ScalerReadError, type MetricReading, type Scaler, type ScalerContext, type ScalerDeps } from './scaler.js';

const schema = {
  timezone: field.string(),
  start: field.string(),
  end: field.string(),
  desiredReplicas: field.int(),
};

export type CronMetadata = MetadataOf<typeof schema>;

/**
 * A standard 5-field schedule (minute hour day-of-month month day-of-week), no seconds and no @descriptors,
 * as KEDA's parser accepts. Returns the parser's complaint, or undefined when the schedule is valid.
 */
export function cronScheduleProblem(expression: string): string | undefined {
  if (expression.startsWith('@')) return `descriptors are not supported: "${expression}"`;
  try {
    new Cron(expression, { mode: '5-part', paused: true });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

const rules: Rule<CronMetadata>[] = [
  {
    fields: ['start'],
    check: (m) => {
      const problem = cronScheduleProblem(m.start);
      return problem === undefined ? undefined : `error parsing start schedule: ${problem}`;
    },
  },
  {
    fields: ['end'],
    check: (m) => {
      const problem = cronScheduleProblem(m.end);
      return problem === undefined ? undefined : `error parsing end schedule: ${problem}`;
    },
  },
  { fields: ['start', 'end'], check: (m) => (m.start === m.end ? 'start and end can not have exactly same time input' : undefined) },
  { fields: ['desiredReplicas'], check: (m) => (m.desiredReplicas === 0 ? 'no desiredReplicas specified' : undefined) },
];

export function parseCron(input: ParseInput): ParseResult<CronMetadata> {
  const parsed = parseMetadata(schema, metadataInput(input));
  return { config: parsed.values, errors: prefixed('error parsing cron metadata', [...parsed.errors, ...checkRules(parsed, rules)]) };
}

/** KEDA's spelling of a schedule inside a metric name. */
function scheduleForName(expression: string): string {
  return expression.replace(/\s+/g, '').replace(/\*/g, 'x').replace(/\//g, 'Sl').replace(/\?/g, 'Qm').replace(/,/g, 'Cm');
}

export function cronMetricName(m: Pick<CronMetadata, 'timezone' | 'start' | 'end'>): string {
  return `cron-${m.timezone}-${scheduleForName(m.start)}-${scheduleForName(m.end)}`;
}

type CronWindowSpec = Pick<CronMetadata, 'timezone' | 'start' | 'end'>;

/**
 * Inside the window exactly when the next end comes no later than the next start: the window [start, end)
 * has begun and not yet finished. Pure in `now`, so DST and time zones are tested with fixed instants.
 */
export function cronWindowActive(now: Date, m: CronWindowSpec): boolean {
  return new CronWindow(m).activeAt(now);
}

/**
 * One trigger's window, answering many polls. Finding the next start and end in a time zone is costly (the
 * schedule is walked field by field through Intl), yet the answer cannot change before the earlier of the
 * two, so it is kept until then; a clock that moves back asks again. Only the answer is kept: a parsed
 * croner schedule holds about 80 KiB of tables, too much to keep two per trigger for thousands of triggers.
 */
export class CronWindow {
  private known: { from: number; until: number; active: boolean } | undefined;

  constructor(private readonly spec: CronWindowSpec) {}

  activeAt(now: Date): boolean {
    const at = now.getTime();
    if (this.known && at >= this.known.from && at < this.known.until) return this.known.active;
    let nextStart: Date | null;
    let nextEnd: Date | null;
    try {
      nextStart = new Cron(this.spec.start, { mode: '5-part', timezone: this.spec.timezone, paused: true }).nextRun(now);
      nextEnd = new Cron(this.spec.end, { mode: '5-part', timezone: this.spec.timezone, paused: true }).nextRun(now);
    } catch (err) {
      throw new ScalerReadError(`unable to load timezone: ${this.spec.timezone}`, { cause: err });
    }
    const active = nextStart !== null && nextEnd !== null && nextEnd.getTime() <= nextStart.getTime();
    // Neither schedule fires in [now, until), so every instant in it sees the same next start and end.
    const until = Math.min(nextStart?.getTime() ?? Infinity, nextEnd?.getTime() ?? Infinity);
    this.known = { from: at, until, active };
    return active;
  }
}

function createCronScaler(config: CronMetadata, context: ScalerContext, deps: ScalerDeps): Scaler {
  // The target is 1, so the HPA's desired count is the value itself: desiredReplicas inside the window.
  const spec = externalMetricSpec(context, cronMetricName(config), 1);
  const window = new CronWindow(config);
  return {
    metricSpecs: [spec],
    read: (metricName): Promise<MetricReading> =>
      Promise.resolve().then(() => {
        assertOwnMetric([spec], metricName);
        const active = window.activeAt(new Date(deps.clock.now()));
        return { value: active ? config.desiredReplicas : 0, active };
      }),
    close: () => Promise.resolve(),
  };
}

export const cronScaler: ScalerDefinition<CronMetadata> = {
  types: ['cron'],
  schema,
  example: { metadata: { timezone: 'Etc/UTC', start: '0 8 * * *', end: '0 18 * * *', desiredReplicas: '3' } },
  allowsCachedMetrics: false,
  external: true,
  parse: parseCron,
  create: createCronScaler,
};
