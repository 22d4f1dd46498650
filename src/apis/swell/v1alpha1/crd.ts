import { stringify } from 'yaml';
import { buildCustomResourceDefinition, type JsonSchemaObject, type KedaCrdDefinition } from '../../keda/v1alpha1/crd.js';
import { BurstPolicySpecSchema, BurstPolicyStatusSchema, SwellGroup, SwellVersion } from './burstpolicy.js';

/** BurstPolicy described like the KEDA kinds, so the same serialiser builds its CRD. */
export const burstPolicyCrdDefinition: KedaCrdDefinition = {
  kind: 'BurstPolicy',
  plural: 'burstpolicies',
  singular: 'burstpolicy',
  shortNames: ['bp'],
  scope: 'Namespaced',
  description: 'BurstPolicy decides where the replicas of a workload run: regular nodes first, the virtual node for the burst',
  spec: BurstPolicySpecSchema,
  status: BurstPolicyStatusSchema,
  printerColumns: [
    { name: 'Target', type: 'string', jsonPath: '.spec.scaleTargetRef.name' },
    { name: 'Base', type: 'integer', jsonPath: '.status.baseReplicas' },
    { name: 'Burst', type: 'integer', jsonPath: '.status.burstReplicas' },
    { name: 'Waiting', type: 'integer', jsonPath: '.status.waitingReplicas' },
    { name: 'Cost', type: 'string', jsonPath: '.status.cost' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
};

/** The shared builder writes keda.sh names; move the CRD into swell.dev, leaving the schema untouched. */
export function buildBurstPolicyCrd(): JsonSchemaObject {
  const crd = buildCustomResourceDefinition(burstPolicyCrdDefinition) as {
    metadata: { name: string };
    spec: { group: string; names: { categories: string[] }; versions: { name: string }[] };
  } & JsonSchemaObject;
  crd.metadata.name = `${burstPolicyCrdDefinition.plural}.${SwellGroup}`;
  crd.spec.group = SwellGroup;
  crd.spec.names.categories = ['swell'];
  for (const version of crd.spec.versions) version.name = SwellVersion;
  return crd;
}

export const burstPolicyCrdFileName = `${SwellGroup}_${burstPolicyCrdDefinition.plural}.yaml`;

/** Same deterministic YAML form as the KEDA CRDs. */
export function renderBurstPolicyCrdYaml(): string {
  return `---\n${stringify(buildBurstPolicyCrd(), { sortMapEntries: true, lineWidth: 0, aliasDuplicateObjects: false })}`;
}
