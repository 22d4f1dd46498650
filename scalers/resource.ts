import { quantityValue } from '../src/kube/quantity.js';
import { metricTargetProblem } from '../src/kube/quantity.js';
import type { ParseInput, ParseResult, ScalerDefinition } from './definition.js';
import { metadataInput, prefixed } from './definition.js';
import { checkRules, field, parseInteger, parseMetadata, type MetadataOf, type Rule } from './metadata.js';
import { ScalerReadError, type MetricSpec, type MetricTargetType, type Scaler, type ScalerContext } from './scaler.js';

const schema = {
  type: field.oneOf(['Utilization', 'AverageValue'], { optional: true }),
  value: field.string(),
  containerName: field.string({ optional: true }),
};

type ResourceMetadata = MetadataOf<typeof schema>;

export interface ResourceConfig {
  resource: 'cpu' | 'memory';
  targetType: MetricTargetType;
  target: number;
  containerName?: string;
}

/** A Kubernetes quantity ("500m", "512Mi", "1.5", "1e3") as a plain number of base units. */
export function parseQuantity(raw: string): number {
  const value = quantityValue(raw);
  if (value === undefined) throw new Error(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
  return value;
}

function effectiveType(m: ResourceMetadata, metricType: MetricTargetType | undefined): MetricTargetType | undefined {
  return metricType ?? m.type;
}

function rules(metricType: MetricTargetType | undefined): Rule<ResourceMetadata>[] {
  return [
    {
      fields: ['type'],
      check: (m) => {
        if (m.type !== undefined && metricType !== undefined) return 'only one of trigger.metadata.type or trigger.metricType should be defined';
        if (effectiveType(m, metricType) === undefined) return 'no type given in neither trigger.metadata.type or trigger.metricType';
        if (metricType === 'Value') return "unsupported metric type 'Value', allowed values are 'Utilization' or 'AverageValue'";
        return undefined;
      },
    },
    {
      fields: ['type', 'value'],
      check: (m) => {
        try {
          return metricTargetProblem('value', targetOf(effectiveType(m, metricType), m.value));
        } catch (err) {
          return `unable to parse "value" ${JSON.stringify(m.value)}: ${(err as Error).message}`;
        }
      },
    },
  ];
}

function targetOf(type: MetricTargetType | undefined, value: string): number {
  if (type !== 'Utilization') return parseQuantity(value);
  const percent = parseInteger(value);
  if (percent > 2147483647 || percent < -2147483648) throw new Error('utilization is out of range');
  return percent;
}

function parseResource(input: ParseInput): ParseResult<ResourceConfig> {
  const resource = input.trigger.type === 'memory' ? 'memory' : 'cpu';
  const parsed = parseMetadata(schema, metadataInput(input));
  const errors = [...parsed.errors, ...checkRules(parsed, rules(input.trigger.metricType))];
  const m = parsed.values;
  const targetType = effectiveType(m, input.trigger.metricType) ?? 'Utilization';
  let target = 0;
  if (errors.length === 0) target = targetOf(targetType, m.value);
  return {
    config: { resource, targetType, target, ...(m.containerName !== undefined ? { containerName: m.containerName } : {}) },
    errors: prefixed(`error parsing ${resource} metadata`, errors),
  };
}

/** cpu and memory become Resource (or container) metrics the HPA reads from metrics-server; swell reads nothing. */
function createResourceScaler(config: ResourceConfig, _context: ScalerContext): Scaler {
  const spec: MetricSpec = {
    kind: 'Resource',
    resource: config.resource,
    targetType: config.targetType,
    target: config.target,
    ...(config.containerName !== undefined ? { containerName: config.containerName } : {}),
  };
  return {
    metricSpecs: [spec],
    read: (metricName) =>
      Promise.reject(new ScalerReadError(`${config.resource} metrics are read by the HPA from metrics-server, not by swell (asked for "${metricName}")`)),
    close: () => Promise.resolve(),
  };
}

export const resourceScaler: ScalerDefinition<ResourceConfig> = {
  types: ['cpu', 'memory'],
  schema,
  example: { metadata: { type: 'Utilization', value: '60' } },
  allowsCachedMetrics: false,
  external: false,
  parse: parseResource,
  create: createResourceScaler,
};
