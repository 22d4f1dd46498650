import { describe, expect, it } from 'vitest';
import { manifestDocuments, type DocumentLimits, type ManifestDocument } from './manifest-documents.js';

const limits: DocumentLimits = { maxAliasCount: 100, maxDepth: 10, maxDocumentBytes: 1000 };
const read = (text: string) => [...manifestDocuments(text, limits)];
const summary = (docs: ManifestDocument[]) =>
  docs.map((d) => (d.kind === 'value' ? { index: d.index, line: d.line, value: d.value } : { index: d.index, line: d.line, problems: d.messages }));

describe('manifestDocuments', () => {
  it.each<[string, string, ReturnType<typeof summary>]>([
    ['an empty text', '', []],
    ['comments only', '# nothing\n', []],
    ['one document', 'a: 1\n', [{ index: 1, line: 1, value: { a: 1 } }]],
    [
      'documents with markers',
      '---\na: 1\n---\nb: 2\n...\n---\n',
      [
        { index: 1, line: 1, value: { a: 1 } },
        { index: 2, line: 3, value: { b: 2 } },
        { index: 3, line: 6, value: null },
      ],
    ],
    [
      'a directive starts the next document',
      'a: 1\n...\n%YAML 1.2\n---\nb: 2\n',
      [
        { index: 1, line: 1, value: { a: 1 } },
        { index: 2, line: 4, value: { b: 2 } },
      ],
    ],
    [
      'a syntax error, by position only',
      'a: 1\n---\nb: [x, y\nc: 2\n',
      [
        { index: 1, line: 1, value: { a: 1 } },
        { index: 2, line: 2, problems: [expect.stringMatching(/^YAML syntax error at line \d+, column \d+: [a-z ()[\]{}.,]+$/)] },
      ],
    ],
    ['a duplicate key', 'a: 1\na: 2\n', [{ index: 1, line: 1, problems: ['YAML syntax error at line 2, column 1: a mapping has the same key twice'] }]],
    [
      'an alias bomb',
      `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${'*a, '.repeat(9)}*a]\nc: &c [${'*b, '.repeat(9)}*b]\nd: [${'*c, '.repeat(9)}*c]\n`,
      [{ index: 1, line: 1, problems: ['aliases expand too much (more than 100 alias uses counted by size), as in an alias bomb'] }],
    ],
    ['an alias with no anchor', 'a: *nowhere\n', [{ index: 1, line: 1, problems: ['an alias refers to no anchor defined before it'] }]],
    ['nesting past the limit', `a: ${'['.repeat(11)}${']'.repeat(11)}\n`, [{ index: 1, line: 1, problems: ['the document nests more than 10 levels deep'] }]],
    [
      'nesting at the limit',
      `a: ${'['.repeat(9)}${']'.repeat(9)}\n`,
      [{ index: 1, line: 1, value: { a: JSON.parse(`${'['.repeat(9)}${']'.repeat(9)}`) as unknown } }],
    ],
    [
      'a document over the size limit, then a small one',
      `a: "${'x'.repeat(1200)}"\n---\nb: 1\n`,
      [
        { index: 1, line: 1, problems: ['the document is 1206 characters long; the apiserver refuses objects over 1000 bytes'] },
        { index: 2, line: 2, value: { b: 1 } },
      ],
    ],
  ])('%s', (_name, text, expected) => {
    expect(summary(read(text))).toEqual(expected);
  });

  it('keeps prototype keys as plain data', () => {
    const [doc] = read('__proto__: {polluted: yes}\nconstructor: {prototype: {polluted: yes}}\n');
    expect(doc?.kind === 'value' && Object.getPrototypeOf(doc.value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('names a dedent too deep for the parser, keeping the documents before it', () => {
    const text = `a: 1\n---\n${Array.from({ length: 6000 }, (_, i) => `${' '.repeat(i % 3000)}k${i}:`).join('\n')}\n`;
    expect(summary([...manifestDocuments(text)])).toEqual([
      { index: 1, line: 1, value: { a: 1 } },
      { index: 2, line: 2, problems: ['this document and the rest of the input were not checked: it nests too deeply to read'] },
    ]);
  });
});
