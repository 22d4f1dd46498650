import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { buildCustomResourceDefinition, crdFileName, kedaCrdDefinitions, renderCrdYaml, toStructuralSchema, type JsonSchemaValue } from './crd.js';
import { Quantity, StringEnum, StringMap, Struct } from './schema.js';
import { Type } from '@sinclair/typebox';

const crdDir = join(import.meta.dirname, '..', '..', '..', '..', 'crds');

/** Every schema node below `node`, with its path. */
function* nodes(node: JsonSchemaValue, path = ''): Generator<[string, Record<string, JsonSchemaValue>]> {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return;
  yield [path, node];
  const properties = node.properties;
  if (typeof properties === 'object' && properties !== null && !Array.isArray(properties)) {
    for (const [key, child] of Object.entries(properties)) yield* nodes(child, `${path}.${key}`);
  }
  if (node.items !== undefined) yield* nodes(node.items, `${path}[]`);
  if (node.additionalProperties !== undefined) yield* nodes(node.additionalProperties, `${path}{}`);
}

describe('generated CRDs', () => {
  it.each(kedaCrdDefinitions.map((d) => [crdFileName(d), d] as const))('%s matches the generator (run npm run gen:crds)', (file, def) => {
    expect(readFileSync(join(crdDir, file), 'utf8')).toBe(renderCrdYaml(def));
  });

  it.each(kedaCrdDefinitions.map((d) => [d.kind, d] as const))('%s is a structural schema', (_kind, def) => {
    const crd = parse(renderCrdYaml(def)) as { spec: { versions: { schema: { openAPIV3Schema: JsonSchemaValue } }[] } };
    const root = crd.spec.versions[0]?.schema.openAPIV3Schema;
    expect(root).toBeDefined();
    for (const [path, node] of nodes(root ?? {})) {
      expect(node.$ref, path).toBeUndefined();
      expect(node.$id, path).toBeUndefined();
      expect(node.patternProperties, path).toBeUndefined();
      if (node.properties !== undefined) expect(node.additionalProperties, path).toBeUndefined();
      if (node.anyOf !== undefined) expect(node['x-kubernetes-int-or-string'], path).toBe(true);
      else if (node['x-kubernetes-int-or-string'] === undefined) expect(node.type, path).toBeTypeOf('string');
    }
  });

  it('carries KEDA names, short names, scope and the status subresource', () => {
    const summary = kedaCrdDefinitions.map((def) => {
      const crd = buildCustomResourceDefinition(def) as {
        metadata: { name: string };
        spec: { scope: string; names: { shortNames: string[] }; versions: { subresources: unknown }[] };
      };
      return [crd.metadata.name, crd.spec.scope, crd.spec.names.shortNames.join(','), JSON.stringify(crd.spec.versions[0]?.subresources)];
    });
    expect(summary).toEqual([
      ['scaledobjects.keda.sh', 'Namespaced', 'so', '{"status":{}}'],
      ['scaledjobs.keda.sh', 'Namespaced', 'sj', '{"status":{}}'],
      ['triggerauthentications.keda.sh', 'Namespaced', 'ta,triggerauth', '{"status":{}}'],
      ['clustertriggerauthentications.keda.sh', 'Cluster', 'cta,clustertriggerauth', '{"status":{}}'],
    ]);
  });

  it('puts the min <= max CEL rule on the ScaledObject spec', () => {
    const spec = toStructuralSchema(kedaCrdDefinitions[0]?.spec);
    expect(spec['x-kubernetes-validations']).toEqual([expect.objectContaining({ message: 'minReplicaCount must be less than or equal to maxReplicaCount' })]);
  });
});

describe('toStructuralSchema', () => {
  it.each([
    ['literal union', StringEnum(['a', 'b'] as const, { default: 'a' }), { type: 'string', enum: ['a', 'b'], default: 'a' }],
    ['string map', StringMap(), { type: 'object', additionalProperties: { type: 'string' } }],
    ['closed object', Struct({ x: Type.Optional(Type.String()) }), { type: 'object', properties: { x: { type: 'string' } } }],
    [
      'int-or-string',
      Quantity(),
      { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }], pattern: expect.any(String) as string },
    ],
    ['preserved object', Type.Object({}, { 'x-kubernetes-preserve-unknown-fields': true }), { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }],
  ])('serialises a %s', (_name, schema, expected) => {
    expect(toStructuralSchema(schema)).toEqual(expected);
  });

  it('refuses unions the apiserver cannot express', () => {
    expect(() => toStructuralSchema(Type.Union([Type.String(), Type.Boolean()]))).toThrow(/structural/);
  });
});
