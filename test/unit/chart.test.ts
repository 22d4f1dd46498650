import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { chartCrdDrift, renderChartCrdTemplate } from '../../scripts/sync-chart-crds.js';

const repoDir = join(import.meta.dirname, '..', '..');
const chartDir = join(repoDir, 'charts', 'swell');

type Values = Record<string, unknown>;
interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
}

async function readYaml(path: string): Promise<Values> {
  return parse(await readFile(path, 'utf8')) as Values;
}

const schema = JSON.parse(await readFile(join(chartDir, 'values.schema.json'), 'utf8')) as SchemaNode;
const defaults = await readYaml(join(chartDir, 'values.yaml'));
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);
const ciFiles = (await readdir(join(chartDir, 'ci'))).filter((f) => f.endsWith('-values.yaml')).sort();

function isObject(value: unknown): value is Values {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Helm's coalescing of a user's values over the chart's: maps merge, a null removes the key, anything else replaces. */
function overlay(base: Values, user: Values): Values {
  const merged: Values = { ...base };
  for (const [key, value] of Object.entries(user)) {
    if (value === null) delete merged[key];
    else merged[key] = isObject(value) && isObject(base[key]) ? overlay(base[key], value) : value;
  }
  return merged;
}

function errorsOf(values: Values): string[] {
  return validate(values) ? [] : (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

/** Dotted paths of every key in values.yaml, descending into maps that have entries. */
function valuePaths(values: Values, prefix = ''): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return isObject(value) && Object.keys(value).length > 0 ? [path, ...valuePaths(value, path)] : [path];
  });
}

describe('values.schema.json', () => {
  it('accepts the default values.yaml', () => {
    expect(errorsOf(defaults)).toEqual([]);
  });

  it.each(ciFiles)('accepts ci/%s laid over the defaults', async (file) => {
    expect(errorsOf(overlay(defaults, await readYaml(join(chartDir, 'ci', file))))).toEqual([]);
  });

  it('describes every key of values.yaml', () => {
    // Entries of free-form maps (labels, resources) are covered by the map's own description.
    const undescribed = (values: Values, node: SchemaNode, prefix: string): string[] =>
      Object.entries(values).flatMap(([key, value]) => {
        const path = prefix ? `${prefix}.${key}` : key;
        if (!node.properties) return [];
        const child = node.properties[key];
        if (!child?.description) return [path];
        return isObject(value) ? undescribed(value, child, path) : [];
      });
    expect(undescribed(defaults, schema, '')).toEqual([]);
  });

  it('declares no key that values.yaml leaves out, so every setting has a visible default', () => {
    const declared = (node: SchemaNode, prefix: string): string[] =>
      Object.entries(node.properties ?? {}).flatMap(([key, child]) => {
        const path = prefix ? `${prefix}.${key}` : key;
        return [path, ...declared(child, path)];
      });
    const present = new Set(valuePaths(defaults));
    const missing = declared(schema, '').filter((path) => !present.has(path));
    expect(missing).toEqual([]);
  });

  it.each([
    ['an unknown log level', { logLevel: 'verbose' }, '/logLevel'],
    ['zero operator replicas', { operator: { replicaCount: 0 } }, '/operator/replicaCount'],
    ['a misspelt key', { operator: { replicas: 2 } }, '/operator'],
    ['an unknown failure policy', { webhooks: { failurePolicy: 'Sometimes' } }, '/webhooks/failurePolicy'],
    ['a port out of range', { metricsApi: { port: 70000 } }, '/metricsApi/port'],
    ['a duration Go cannot parse', { certificates: { certManager: { duration: '1 year' } } }, '/certificates/certManager/duration'],
    ['a namespace with capitals', { watchNamespace: 'Apps' }, '/watchNamespace'],
    ['a malformed CPU quantity', { operator: { resources: { limits: { cpu: 'one' } } } }, '/operator/resources/limits/cpu'],
    ['a scale target without resources', { rbac: { scaleTargets: [{ apiGroup: 'apps' }] } }, '/rbac/scaleTargets/0'],
    ['an unknown virtual node provider', { virtualNode: { provider: 'aci' } }, '/virtualNode/provider'],
    ['a Fargate architecture ECS lacks', { virtualNode: { fargate: { architecture: 'arm' } } }, '/virtualNode/fargate/architecture'],
    ['a subnet list given as one string', { virtualNode: { fargate: { subnets: 'subnet-a,subnet-b' } } }, '/virtualNode/fargate/subnets'],
    ['a PDB percentage without %', { operator: { podDisruptionBudget: { minAvailable: '50' } } }, '/operator/podDisruptionBudget/minAvailable'],
  ])('rejects %s, naming the field', (_name, user, field) => {
    const errors = errorsOf(overlay(defaults, user));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.some((e) => e.startsWith(field))).toBe(true);
  });
});

describe('chart CRD templates', () => {
  it('match crds/ (run `npx tsx scripts/sync-chart-crds.ts` after `npm run gen:crds`)', async () => {
    expect(await chartCrdDrift()).toEqual([]);
  });

  it('gate the CRD behind crds.install and keep its spec byte for byte', async () => {
    const source = await readFile(join(repoDir, 'crds', 'keda.sh_scaledobjects.yaml'), 'utf8');
    const template = renderChartCrdTemplate('keda.sh_scaledobjects.yaml', source);
    const lines = template.split('\n');
    expect(lines[1]).toBe('{{- if .Values.crds.install }}');
    expect(lines.at(-2)).toBe('{{- end }}');
    const specFrom = (text: string) => text.slice(text.indexOf('\nspec:\n')).trimEnd();
    expect(specFrom(template).replace(/\n\{\{- end \}\}$/, '')).toBe(specFrom(source));
  });

  it.each([
    [
      'a template action in a description',
      '---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  labels: {}\n  name: x\nspec:\n  d: "{{ x }}"\n',
      /template action/,
    ],
    [
      'a document without metadata.labels',
      '---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: x\nspec: {}\n',
      /metadata\.labels/,
    ],
    ['another kind of document', '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n', /apiextensions/],
  ])('refuse %s', (_name, yaml, message) => {
    expect(() => renderChartCrdTemplate('bad.yaml', yaml)).toThrow(message);
  });
});

describe('Grafana dashboard', () => {
  const dashboardFile = join(chartDir, 'files', 'dashboard.json');

  it('queries only metrics that swell exports', async () => {
    const dashboard = JSON.parse(await readFile(dashboardFile, 'utf8')) as { panels: { id: number; targets?: { expr: string }[] }[] };
    const expressions = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    const referenced = new Set(expressions.flatMap((e) => [...e.matchAll(/\b((?:keda|swell|controller_runtime|workqueue)_[a-z_]+)/g)].map((m) => m[1] ?? '')));
    const sources = await sourceTexts(join(repoDir, 'src'));
    const unknown = [...referenced].filter((metric) => {
      const base = metric.replace(/_(bucket|sum|count)$/, '');
      return !sources.some((text) => text.includes(`'${base}'`));
    });
    expect(referenced.size).toBeGreaterThan(5);
    expect(unknown).toEqual([]);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

async function sourceTexts(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  const files = entries.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  return Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
}
