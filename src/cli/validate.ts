import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { validateTriggerMetadata } from '../../scalers/registry.js';
import type { FieldError } from '../apis/keda/v1alpha1/schema-validation.js';
import { createKedaValidator, type KedaValidator } from '../apis/keda/v1alpha1/validator.js';

export interface ManifestResult {
  kind: string;
  namespace: string | null;
  name: string;
  valid: boolean;
  errors: FieldError[];
  warnings: FieldError[];
}

const usage = `usage: swell validate -f FILE|- [-f FILE...] [--output text|json]

Checks KEDA manifests (ScaledObject, ScaledJob, TriggerAuthentication, ClusterTriggerAuthentication) offline:
schema, KEDA's semantic rules and each trigger's metadata. Other documents are skipped.
Exit status: 0 all valid, 1 some invalid, 2 usage or I/O error.
`;

/** A validator with the scalers' own metadata checks, run offline (auth and env references count as present). */
export function createManifestValidator(): KedaValidator {
  return createKedaValidator({ validateTrigger: (trigger) => validateTriggerMetadata(trigger, { offline: true }) });
}

/** Validates every KEDA document in a multi-document YAML text; `kind: List` items are expanded. */
export function validateManifests(text: string, validator: KedaValidator = createManifestValidator()): ManifestResult[] {
  const results: ManifestResult[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    if (doc.errors.length > 0) {
      results.push({ kind: '', namespace: null, name: `document ${index + 1}`, valid: false, errors: doc.errors.map((e) => ({ path: '(yaml)', message: e.message })), warnings: [] });
      return;
    }
    for (const object of expandLists(doc.toJS() as unknown)) {
      const result = validator.validate(object);
      if (!result) continue;
      results.push({ kind: result.kind, namespace: result.namespace ?? null, name: result.name, valid: result.valid, errors: result.errors, warnings: result.warnings });
    }
  });
  return results;
}

function expandLists(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  const record = value as { kind?: unknown; items?: unknown };
  if (typeof value === 'object' && record.kind === 'List' && Array.isArray(record.items)) return record.items.flatMap(expandLists);
  return [value];
}

export function formatText(results: readonly ManifestResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const where = r.namespace ? `${r.namespace}/${r.name}` : r.name;
    lines.push(`${r.kind || 'document'} ${where}: ${r.valid ? 'valid' : 'invalid'}`);
    for (const e of r.errors) lines.push(`  error   ${e.path}: ${e.message}`);
    for (const w of r.warnings) lines.push(`  warning ${w.path}: ${w.message}`);
  }
  const invalid = results.filter((r) => !r.valid).length;
  lines.push(`${results.length} KEDA object(s) checked, ${invalid} invalid`);
  return `${lines.join('\n')}\n`;
}

async function readInput(file: string): Promise<string> {
  if (file !== '-') return readFile(file, 'utf8');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseCommandLine(argv: string[]): { files: string[]; output: 'text' | 'json' } | string {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { filename: { type: 'string', short: 'f', multiple: true }, output: { type: 'string', short: 'o', default: 'text' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) return '';
    if (positionals.length > 0) return `unexpected argument "${positionals[0]}"`;
    if (!values.filename || values.filename.length === 0) return 'missing -f FILE (use - for standard input)';
    if (values.output !== 'text' && values.output !== 'json') return `--output must be text or json, not "${values.output}"`;
    return { files: values.filename, output: values.output };
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export async function validateCommand(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(argv);
  if (typeof parsed === 'string') {
    if (parsed === '') {
      process.stdout.write(usage);
      return 0;
    }
    process.stderr.write(`swell validate: ${parsed}\n\n${usage}`);
    return 2;
  }
  const validator = createManifestValidator();
  const results: ManifestResult[] = [];
  for (const file of parsed.files) {
    let text: string;
    try {
      text = await readInput(file);
    } catch (err) {
      process.stderr.write(`swell validate: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
      return 2;
    }
    results.push(...validateManifests(text, validator));
  }
  process.stdout.write(parsed.output === 'json' ? `${JSON.stringify(results, null, 2)}\n` : formatText(results));
  return results.every((r) => r.valid) ? 0 : 1;
}
