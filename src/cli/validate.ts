import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { usageErrorText } from './usage.js';
import { offlineTriggerCheck } from '../../scalers/registry.js';
import type { FieldError } from '../apis/keda/v1alpha1/schema-validation.js';
import { isKedaKind, KedaKinds } from '../apis/keda/v1alpha1/schema-validation.js';
import { KedaApiVersion } from '../apis/keda/v1alpha1/schema.js';
import { createKedaValidator, type KedaValidator } from '../apis/keda/v1alpha1/validator.js';
import { defaultDocumentLimits, manifestDocuments, type DocumentLimits } from './manifest-documents.js';

export interface ManifestResult {
  /** The file the object came from (`-` for standard input). */
  source: string;
  /** 1-based position of its YAML document in the file. */
  document: number;
  kind: string;
  namespace: string | null;
  name: string;
  valid: boolean;
  errors: FieldError[];
  warnings: FieldError[];
}

/** Input that could not be checked: unreadable, not YAML, too big, or holding no KEDA object. */
export interface InputProblem {
  source: string;
  /** The document it concerns, when it concerns one. */
  document?: number;
  line?: number;
  message: string;
}

export interface ValidationReport {
  results: ManifestResult[];
  problems: InputProblem[];
  summary: { objects: number; invalid: number; problems: number; exitCode: ExitCode };
}

/** 0: every KEDA object valid. 1: some KEDA object invalid. 2: usage error, or input that could not be checked. */
export const ExitCodes = { valid: 0, invalid: 1, unchecked: 2 } as const;
export type ExitCode = (typeof ExitCodes)[keyof typeof ExitCodes];

/** Inputs above this size are refused before reading, so memory stays bounded whatever is piped in. */
export const maxInputBytes = 64 * 1024 * 1024;

const usage = `usage: swell validate -f FILE|- [-f FILE...] [--output text|json] [--allow-empty]

Checks KEDA manifests (ScaledObject, ScaledJob, TriggerAuthentication, ClusterTriggerAuthentication) offline:
the apiserver's metadata limits, the schema, KEDA's semantic rules and each trigger's metadata. Other documents
are skipped and never printed.

  -f, --filename FILE   a file of YAML or JSON documents, - for standard input; repeatable
  -o, --output FORMAT   text (default) or json; json is printed for every outcome, errors included
      --allow-empty     exit 0 when the input holds no KEDA object (default: exit 2)
  -h, --help            this text

Exit status:
  0  every KEDA object is valid
  1  some KEDA object is invalid
  2  usage error, or input that could not be checked: unreadable, not UTF-8, binary, a YAML error, a document
     over the limits (3 MiB, 100 levels, 100 alias uses), or no KEDA object at all without --allow-empty
`;

/** A validator with the scalers' own metadata checks, run offline (auth and env references count as present). */
export function createManifestValidator(): KedaValidator {
  return createKedaValidator({ validateTrigger: offlineTriggerCheck });
}

interface Checked {
  results: ManifestResult[];
  problems: InputProblem[];
}

/** Validates every KEDA document of one multi-document YAML text; `kind: List` items are expanded. */
export function checkManifests(
  text: string,
  source = '-',
  validator: KedaValidator = createManifestValidator(),
  limits: DocumentLimits = defaultDocumentLimits,
): Checked {
  const checked: Checked = { results: [], problems: [] };
  for (const doc of manifestDocuments(text, limits)) {
    if (doc.kind === 'problem') {
      for (const message of doc.messages) checked.problems.push({ source, document: doc.index, line: doc.line, message });
      continue;
    }
    for (const object of expandLists(doc.value)) {
      const result = checkObject(object, validator);
      if (result) checked.results.push({ source, document: doc.index, ...result });
    }
  }
  return checked;
}

/** The per-object results of {@link checkManifests}, for callers that only want those. */
export function validateManifests(text: string, validator: KedaValidator = createManifestValidator()): ManifestResult[] {
  return checkManifests(text, '-', validator).results;
}

function field(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function checkObject(object: unknown, validator: KedaValidator): Omit<ManifestResult, 'source' | 'document'> | undefined {
  const kind = field(object, 'kind');
  const apiVersion = field(object, 'apiVersion');
  const metadata = field(object, 'metadata');
  const name = field(metadata, 'name');
  const namespace = field(metadata, 'namespace');
  // A KEDA kind without an apiVersion (a misspelt `apiversion:`, say) would otherwise be skipped in silence.
  if (isKedaKind(kind) && typeof apiVersion !== 'string') {
    const error = { path: 'apiVersion', message: `is missing; ${kind} needs apiVersion: ${KedaApiVersion}` };
    return {
      kind,
      namespace: typeof namespace === 'string' ? namespace : null,
      name: typeof name === 'string' ? name : '',
      valid: false,
      errors: [error],
      warnings: [],
    };
  }
  const result = validator.validate(object);
  if (!result) return undefined;
  return { kind: result.kind, namespace: result.namespace ?? null, name: result.name, valid: result.valid, errors: result.errors, warnings: result.warnings };
}

function expandLists(value: unknown): unknown[] {
  if (value === null || value === undefined) return [];
  const items = field(value, 'items');
  if (field(value, 'kind') === 'List' && Array.isArray(items)) return items.flatMap(expandLists);
  return [value];
}

export function report(checked: Checked, allowEmpty: boolean): ValidationReport {
  const problems = [...checked.problems];
  if (checked.results.length === 0 && problems.length === 0 && !allowEmpty) {
    problems.push({
      source: '(all inputs)',
      message: `no KEDA object found (${KedaKinds.join(', ')} with apiVersion ${KedaApiVersion}); pass --allow-empty to accept that`,
    });
  }
  const invalid = checked.results.filter((r) => !r.valid).length;
  const exitCode = problems.length > 0 ? ExitCodes.unchecked : invalid > 0 ? ExitCodes.invalid : ExitCodes.valid;
  return { results: checked.results, problems, summary: { objects: checked.results.length, invalid, problems: problems.length, exitCode } };
}

function where(p: InputProblem): string {
  return [p.source, p.document !== undefined ? `document ${p.document}` : '', p.line !== undefined ? `(line ${p.line})` : ''].filter((s) => s !== '').join(' ');
}

export function formatText(r: ValidationReport): string {
  const lines: string[] = [];
  for (const result of r.results) {
    const at = result.namespace ? `${result.namespace}/${result.name}` : result.name;
    lines.push(`${result.kind || 'document'} ${at}: ${result.valid ? 'valid' : 'invalid'}`);
    for (const e of result.errors) lines.push(`  error   ${e.path}: ${e.message}`);
    for (const w of result.warnings) lines.push(`  warning ${w.path}: ${w.message}`);
  }
  for (const p of r.problems) lines.push(`not checked: ${where(p)}: ${p.message}`);
  const problems = r.summary.problems > 0 ? `, ${r.summary.problems} input problem(s)` : '';
  lines.push(`${r.summary.objects} KEDA object(s) checked, ${r.summary.invalid} invalid${problems}`);
  return `${lines.join('\n')}\n`;
}

interface Options {
  files: string[];
  output: 'text' | 'json';
  allowEmpty: boolean;
}

function parseCommandLine(argv: string[]): Options | { help: true } | { error: string } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        output: { type: 'string', short: 'o', default: 'text' },
        'allow-empty': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) return { help: true };
    if (positionals.length > 0) return { error: `unexpected argument "${positionals[0]}"` };
    if (!values.filename || values.filename.length === 0) return { error: 'missing -f FILE (use - for standard input)' };
    if (values.output !== 'text' && values.output !== 'json') return { error: `--output must be text or json, not "${values.output}"` };
    return { files: values.filename, output: values.output, allowEmpty: values['allow-empty'] === true };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** Whether the command line asked for JSON, read loosely so that even a bad command line answers in JSON. */
function wantsJson(argv: readonly string[]): boolean {
  return argv.some((arg, i) => arg === '--output=json' || arg === '-ojson' || ((arg === '--output' || arg === '-o') && argv[i + 1] === 'json'));
}

async function readInput(file: string): Promise<Buffer> {
  if (file === '-') return readBounded(process.stdin, '-');
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxInputBytes) throw new Error(`${file} is ${size} bytes, more than the ${maxInputBytes} bytes swell validate reads`);
    return await readBounded(handle.createReadStream({ autoClose: false }), file);
  } finally {
    await handle.close();
  }
}

async function readBounded(stream: AsyncIterable<unknown>, name: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.length;
    if (size > maxInputBytes) throw new Error(`${name} is more than the ${maxInputBytes} bytes swell validate reads`);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

/** The text of an input, or why it is not text: binary data and invalid UTF-8 are refused rather than guessed at. */
export function decodeInput(bytes: Buffer): { text: string } | { problem: string } {
  if (bytes.includes(0)) return { problem: 'the input is binary (it contains NUL bytes), not YAML' };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { problem: 'the input is not valid UTF-8 text' };
  }
}

/** Everything the command prints and its exit code; never throws. */
export async function runValidate(argv: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const json = wantsJson(argv);
  const parsed = parseCommandLine(argv);
  if ('help' in parsed) return { stdout: usage, stderr: '', exitCode: 0 };
  if ('error' in parsed) {
    const failed = report({ results: [], problems: [{ source: '(command line)', message: parsed.error }] }, true);
    return { stdout: json ? `${JSON.stringify(failed, null, 2)}\n` : '', stderr: usageErrorText('validate', parsed.error), exitCode: ExitCodes.unchecked };
  }
  const checked: Checked = { results: [], problems: [] };
  try {
    const validator = createManifestValidator();
    for (const file of parsed.files) {
      let bytes: Buffer;
      try {
        bytes = await readInput(file);
      } catch (err) {
        checked.problems.push({ source: file, message: `cannot read: ${readError(err)}` });
        continue;
      }
      const decoded = decodeInput(bytes);
      if ('problem' in decoded) {
        checked.problems.push({ source: file, message: decoded.problem });
        continue;
      }
      const one = checkManifests(decoded.text, file, validator);
      checked.results.push(...one.results);
      checked.problems.push(...one.problems);
    }
  } catch (err) {
    // Not expected for any input; said in one line, without a stack trace, so a CI log stays readable.
    checked.problems.push({ source: '(swell)', message: `internal error: ${err instanceof Error ? err.message : String(err)}` });
  }
  const result = report(checked, parsed.allowEmpty);
  return { stdout: parsed.output === 'json' ? `${JSON.stringify(result, null, 2)}\n` : formatText(result), stderr: '', exitCode: result.summary.exitCode };
}

function readError(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}

export async function validateCommand(argv: string[]): Promise<number> {
  // A reader that stops early (`| head`) closes the pipe: not a failure of the check, and no stack trace.
  const onWriteError = (err: NodeJS.ErrnoException): void => {
    if (err.code !== 'EPIPE') process.exitCode = ExitCodes.unchecked;
  };
  process.stdout.on('error', onWriteError);
  process.stderr.on('error', onWriteError);
  const { stdout, stderr, exitCode } = await runValidate(argv);
  if (stdout) process.stdout.write(stdout);
  if (stderr) process.stderr.write(stderr);
  return exitCode;
}
