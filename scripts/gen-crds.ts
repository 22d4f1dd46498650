// Writes crds/keda.sh_<plural>.yaml and crds/swell.dev_burstpolicies.yaml from the TypeBox schemas in src/apis (npm run gen:crds).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crdFileName, kedaCrdDefinitions, renderCrdYaml } from '../src/apis/keda/v1alpha1/crd.js';
import { burstPolicyCrdFileName, renderBurstPolicyCrdYaml } from '../src/apis/swell/v1alpha1/crd.js';

const outputDir = join(import.meta.dirname, '..', 'crds');
await mkdir(outputDir, { recursive: true });
const documents: [string, string][] = [
  ...kedaCrdDefinitions.map((def): [string, string] => [crdFileName(def), renderCrdYaml(def)]),
  [burstPolicyCrdFileName, renderBurstPolicyCrdYaml()],
];
for (const [name, yaml] of documents) {
  const file = join(outputDir, name);
  await writeFile(file, yaml);
  process.stdout.write(`wrote ${file}\n`);
}
