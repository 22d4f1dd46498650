// Writes crds/keda.sh_<plural>.yaml from the TypeBox schemas in src/apis/keda/v1alpha1 (npm run gen:crds).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crdFileName, kedaCrdDefinitions, renderCrdYaml } from '../src/apis/keda/v1alpha1/crd.js';

const outputDir = join(import.meta.dirname, '..', 'crds');
await mkdir(outputDir, { recursive: true });
for (const def of kedaCrdDefinitions) {
  const file = join(outputDir, crdFileName(def));
  await writeFile(file, renderCrdYaml(def));
  process.stdout.write(`wrote ${file}\n`);
}
