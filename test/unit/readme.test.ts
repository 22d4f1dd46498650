import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { BurstPolicySpecSchema } from '../../src/apis/swell/v1alpha1/burstpolicy.js';
import { createBurstPolicyValidator } from '../../src/apis/swell/v1alpha1/validation.js';
import { main } from '../../src/cli/main.js';
import { validateManifests } from '../../src/cli/validate.js';
import { costMetricNames } from '../../src/virtual-node/cost/metrics.js';
import {
  codeSpans,
  coverageOf,
  exampleOf,
  exercisedElsewhere,
  fencedBlocks,
  firstCells,
  helmTemplateArgsOf,
  notRunHere,
  readmeCommands,
  readReadme,
  repoDir,
  section,
  shellCommands,
} from './readme-blocks.js';

/*
 * The README's promises that can be checked without servers: its examples are valid manifests and the same as the
 * files in examples/, its flag tables list what each command's --help prints (and nothing else), its chart values
 * and BurstPolicy fields exist, and every shell command in it is exercised somewhere.
 */

const readme = readReadme();
const blocks = fencedBlocks(readme);
const yamlBlocks = blocks.filter((b) => b.lang === 'yaml');
const examplesDir = join(repoDir, 'examples');

/** The kinds test/integration/readme.test.ts knows how to apply. */
const applicableKinds = ['Secret', 'ConfigMap', 'TriggerAuthentication', 'ScaledObject', 'ScaledJob', 'BurstPolicy'];

describe('README parsing', () => {
  it.each([
    ['one command', 'npx swell dev status\n', ['npx swell dev status']],
    ['a trailing comment', 'npx swell demo      # --jobs 60\n', ['npx swell demo']],
    ['two commands joined by &&', 'npm ci && npx swell demo   # sandbox\n', ['npm ci', 'npx swell demo']],
    ['continuation lines', 'helm install a b \\\n  --set x=1 \\\n  --set y=2\n', ['helm install a b --set x=1 --set y=2']],
    ['blank lines', '\nnpm test\n\n', ['npm test']],
  ])('reads %s', (_name, text, want) => {
    expect(shellCommands({ lang: 'sh', text, line: 1 }).map((c) => c.command)).toEqual(want);
  });

  it('refuses an unclosed fence, naming its line', () => {
    expect(() => fencedBlocks('text\n```sh\nnpm test\n')).toThrow(/line 2/);
  });

  it('classifies commands: run here, exercised elsewhere, not run, or unknown', () => {
    expect(coverageOf('npx swell validate -f examples/cron.yaml')).toEqual({ kind: 'run', program: 'swell', argv: ['validate', '-f', 'examples/cron.yaml'] });
    expect(coverageOf('helm template swell charts/swell')).toMatchObject({ kind: 'run', program: 'helm' });
    expect(coverageOf('npx swell demo')).toMatchObject({ kind: 'elsewhere', file: 'test/e2e/demo.test.ts' });
    expect(coverageOf('npx swell dev status | grep kube')).toBeUndefined();
    expect(coverageOf('npx swell dev up --components redis')).toBeUndefined();
    expect(coverageOf('kubectl delete ns prod')).toBeUndefined();
    expect(helmTemplateArgsOf('helm install r c -n ns --create-namespace --set a=b')).toEqual(['template', 'r', 'c', '-n', 'ns', '--set', 'a=b']);
  });
});

describe('README examples', () => {
  it('are all files of examples/, each shown once and unchanged', () => {
    const shown = yamlBlocks.map((b) => {
      const example = exampleOf(b);
      if (!example) throw new Error(`README.md line ${b.line}: a yaml block must start with "# examples/<file>.yaml" and be that file`);
      expect(example.content, `README.md line ${b.line} differs from ${example.file}`).toBe(readFileSync(join(repoDir, example.file), 'utf8'));
      return example.file;
    });
    const files = readdirSync(examplesDir)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `examples/${f}`);
    expect([...shown].sort()).toEqual(files.sort());
    expect(new Set(shown).size).toBe(shown.length);
  });

  it('cover every scaler the README promises an example for, and a ScaledJob and a BurstPolicy', () => {
    const docs = yamlBlocks.flatMap((b) => parseAllDocuments(b.text).map((d) => d.toJS() as { kind: string; spec?: { triggers?: { type: string }[] } }));
    const triggerTypes = new Set(docs.flatMap((d) => d.spec?.triggers?.map((t) => t.type) ?? []));
    for (const type of ['aws-sqs-queue', 'kafka', 'redis', 'redis-streams', 'cron', 'prometheus', 'cpu', 'memory']) expect(triggerTypes).toContain(type);
    expect(docs.map((d) => d.kind)).toEqual(expect.arrayContaining(['ScaledJob', 'BurstPolicy', 'TriggerAuthentication']));
  });

  it.each(yamlBlocks.map((b) => [exampleOf(b)?.file ?? `line ${b.line}`, b] as const))('%s passes swell validate', (_file, block) => {
    const results = validateManifests(block.text);
    const problems = results.filter((r) => !r.valid).map((r) => `${r.kind} ${r.name}: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
    expect(problems).toEqual([]);
    expect(results.flatMap((r) => r.warnings)).toEqual([]);
    const kedaKinds = parseAllDocuments(block.text).filter((d) =>
      ['ScaledObject', 'ScaledJob', 'TriggerAuthentication', 'ClusterTriggerAuthentication'].includes((d.toJS() as { kind: string }).kind),
    );
    expect(results).toHaveLength(kedaKinds.length);
  });

  it.each(yamlBlocks.map((b) => [exampleOf(b)?.file ?? `line ${b.line}`, b] as const))(
    '%s holds only kinds the readme test applies, without a namespace, and valid BurstPolicies',
    (_file, block) => {
      const validateBurstPolicy = createBurstPolicyValidator();
      for (const doc of parseAllDocuments(block.text)) {
        const object = doc.toJS() as { kind: string; metadata: { name: string; namespace?: string } };
        expect(applicableKinds).toContain(object.kind);
        expect(object.metadata.namespace, `${object.kind} ${object.metadata.name} names a namespace; examples apply to the reader's`).toBeUndefined();
        if (object.kind === 'BurstPolicy') {
          const check = validateBurstPolicy(object);
          expect(check.ok ? [] : check.errors).toEqual([]);
        }
      }
    },
  );
});

describe('README shell commands', () => {
  const commands = readmeCommands(readme);

  it('are each run by a test, mapped to the test that exercises them, or explicitly not run', () => {
    const untested = commands.filter((c) => coverageOf(c.command) === undefined).map((c) => `README.md line ${c.line}: ${c.command}`);
    expect(untested, 'add the command to exercisedElsewhere in test/unit/readme-blocks.ts with the test that runs it, or make it cheap enough to run').toEqual(
      [],
    );
    expect(commands.length).toBeGreaterThan(10);
  });

  it.each(Object.entries(exercisedElsewhere))('`%s` is exercised by a test file that exists and runs it', (_command, { file, evidence }) => {
    const path = join(repoDir, file);
    expect(existsSync(path), `${file} does not exist`).toBe(true);
    // The formatter may wrap a call over several lines, so the evidence is matched without whitespace.
    const squeeze = (text: string) => text.replace(/\s+/g, '');
    expect(squeeze(readFileSync(path, 'utf8'))).toContain(squeeze(evidence));
  });

  it('has no stale mappings: every mapped or not-run command is still in the README', () => {
    const present = new Set(commands.map((c) => c.command));
    expect([...Object.keys(exercisedElsewhere), ...Object.keys(notRunHere)].filter((c) => !present.has(c))).toEqual([]);
  });

  it('keeps the quick start at exactly two commands lines: npm ci && npx swell demo, and npm test', () => {
    const quickStart = fencedBlocks(section(readme, 'Quick start')).filter((b) => b.lang === 'sh')[0];
    expect(
      quickStart?.text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => l.replace(/\s+#.*$/, '')),
    ).toEqual(['npm ci && npx swell demo', 'npm test']);
  });
});

describe('README configuration reference', () => {
  afterEach(() => vi.restoreAllMocks());

  /** What `swell <argv>` prints, run in this process. */
  async function helpOf(argv: string[]): Promise<string> {
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const code = await main(argv);
    const text = stdout.mock.calls.map((call) => String(call[0])).join('');
    stdout.mockRestore();
    expect(code).toBe(0);
    return text;
  }

  const flagsIn = (text: string) => new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]));

  it.each([
    ['swell operator', ['operator', '--help']],
    ['swell validate', ['validate', '--help']],
    ['swell virtual-node', ['virtual-node', '--help']],
    ['swell dev', ['dev', '--help']],
    ['swell demo', ['demo', '--help']],
    ['swell simulate', ['simulate', '--help']],
    ['swell apiservice', ['apiservice', '--help']],
  ])(
    '`%s` lists exactly the flags its --help prints',
    async (command, argv) => {
      const help = flagsIn(await helpOf(argv));
      const documented = flagsIn(section(readme, `\`${command}\``));
      documented.delete('--help');
      expect(
        [...help].filter((f) => f !== '--help' && !documented.has(f)),
        `flags of ${command} missing from the README`,
      ).toEqual([]);
      expect(
        [...documented].filter((f) => !help.has(f)),
        `flags the README gives ${command} that it does not take`,
      ).toEqual([]);
    },
    30_000,
  );

  it('names chart values that exist in values.yaml', () => {
    const values = parse(readFileSync(join(repoDir, 'charts', 'swell', 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const keys = firstCells(section(readme, 'Install on a cluster with Helm')).flatMap(codeSpans);
    expect(keys.length).toBeGreaterThan(10);
    const missing = keys.filter((key) => {
      let node: unknown = values;
      for (const part of key.split('.')) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[part] : undefined;
      return node === undefined;
    });
    expect(missing).toEqual([]);
  });

  it('names BurstPolicy fields that exist in its schema', () => {
    const fields = firstCells(section(readme, 'Bursting onto a virtual node')).flatMap(codeSpans);
    expect(fields.length).toBeGreaterThan(6);
    const missing = fields.filter((path) => {
      let node: { properties?: Record<string, unknown> } | undefined = BurstPolicySpecSchema;
      for (const part of path.split('.')) node = node?.properties?.[part] as typeof node;
      return node === undefined;
    });
    expect(missing).toEqual([]);
  });

  it('lists exactly the virtual node cost metrics it serves', () => {
    const documented = codeSpans(section(readme, 'Metrics and dashboards')).filter((s) => s.startsWith('swell_virtual_node_'));
    expect([...documented].sort()).toEqual(Object.values(costMetricNames).sort());
  });
});
