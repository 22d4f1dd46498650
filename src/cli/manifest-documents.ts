import { Composer, LineCounter, Parser, type CST, type Document } from 'yaml';

/*
 * Reads a multi-document YAML text one document at a time, so memory follows the largest document rather than
 * the whole input, and turns every way a document can be unreadable into a named problem. Problems never quote
 * the input: a document that fails to parse may be a Secret, so only its position and a fixed description are
 * given.
 */

export interface DocumentLimits {
  /** Alias expansions per document before it counts as an alias bomb (the `yaml` library's maxAliasCount). */
  maxAliasCount: number;
  /** Nesting of mappings and sequences; far deeper than any Kubernetes object, shallow enough for the stack. */
  maxDepth: number;
  /** The apiserver refuses request bodies above 3 MiB, so a larger document could never be applied. */
  maxDocumentBytes: number;
}

export const defaultDocumentLimits: DocumentLimits = { maxAliasCount: 100, maxDepth: 100, maxDocumentBytes: 3 * 1024 * 1024 };

export type ManifestDocument =
  { kind: 'value'; index: number; line: number; value: unknown } | { kind: 'problem'; index: number; line: number; messages: string[] };

const maxMessagesPerDocument = 10;

const yamlProblems: Readonly<Record<string, string>> = {
  BAD_INDENT: 'bad indentation',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  BAD_ALIAS: 'an alias that refers to no anchor',
  BAD_DIRECTIVE: 'an invalid directive',
  BAD_SCALAR_START: 'a plain value cannot start with this character',
  BLOCK_AS_IMPLICIT_KEY: 'a block collection used as a key',
  BLOCK_IN_FLOW: 'block syntax inside a flow collection ([...] or {...})',
  DUPLICATE_KEY: 'a mapping has the same key twice',
  KEY_OVER_1024_CHARS: 'an implicit key longer than 1024 characters',
  MISSING_CHAR: 'a closing or separating character is missing',
  MULTILINE_IMPLICIT_KEY: 'an implicit key spans more than one line',
  MULTIPLE_ANCHORS: 'a node has more than one anchor',
  MULTIPLE_TAGS: 'a node has more than one tag',
  TAB_AS_INDENT: 'a tab used as indentation',
  TAG_RESOLVE_FAILED: 'a value does not match its tag',
  UNEXPECTED_TOKEN: 'unexpected characters',
};

/** Documents of `text` in order; each is a plain value or the problems that kept it from being read. */
export function* manifestDocuments(text: string, limits: DocumentLimits = defaultDocumentLimits): Generator<ManifestDocument> {
  const lines = new LineCounter();
  const at = (offset: number) => lines.linePos(offset);
  let group: CST.Token[] = [];
  let index = 0;
  // A group is one document with the directives and comments before it and its end marker; it ends where the next begins.
  const flush = function* (end: number): Generator<ManifestDocument> {
    const tokens = group;
    group = [];
    if (!tokens.some((t) => t.type === 'document' || t.type === 'error')) return;
    index += 1;
    yield readDocument(tokens, end, index, limits, at);
  };
  const tokens = new Parser(lines.addNewLine).parse(text);
  for (;;) {
    let next: IteratorResult<CST.Token>;
    try {
      next = tokens.next();
    } catch (error) {
      // The parser recurses once per level it closes, so a hostile dedent can exhaust the stack; nothing after
      // that point can be read, and what came before has been reported.
      const complete = group.some((t) => t.type === 'document');
      const failedAt = complete ? sourceEnd(group) : (group[0]?.offset ?? lines.lineStarts.at(-1) ?? 0);
      if (complete) yield* flush(failedAt);
      const why = error instanceof RangeError ? 'it nests too deeply to read' : 'it could not be parsed';
      yield { kind: 'problem', index: index + 1, line: at(failedAt).line, messages: [`this document and the rest of the input were not checked: ${why}`] };
      return;
    }
    if (next.done) break;
    const token = next.value;
    if ((token.type === 'document' || token.type === 'directive') && group.some((t) => t.type === 'document')) yield* flush(token.offset);
    group.push(token);
  }
  yield* flush(text.length);
}

function readDocument(
  tokens: CST.Token[],
  end: number,
  index: number,
  limits: DocumentLimits,
  at: (offset: number) => { line: number; col: number },
): ManifestDocument {
  const first = tokens.find((t) => t.type === 'document') ?? tokens[0];
  const line = first ? at(first.offset).line : 1;
  const problem = (messages: string[]): ManifestDocument => ({ kind: 'problem', index, line, messages });
  const length = end - (first?.offset ?? end);
  if (length > limits.maxDocumentBytes)
    return problem([`the document is ${length} characters long; the apiserver refuses objects over ${limits.maxDocumentBytes} bytes`]);
  if (depthOf(tokens) > limits.maxDepth) return problem([`the document nests more than ${limits.maxDepth} levels deep`]);
  let doc: Document.Parsed | undefined;
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true });
  try {
    for (const token of tokens) for (const composed of composer.next(token)) doc = composed;
    for (const composed of composer.end(true, end)) doc = composed;
  } catch {
    return problem(['the document could not be parsed']);
  }
  if (!doc) return problem(['the document could not be parsed']);
  if (doc.errors.length > 0) {
    const messages = doc.errors.slice(0, maxMessagesPerDocument).map((e) => {
      const pos = at(e.pos[0]);
      return `YAML syntax error at line ${pos.line}, column ${pos.col}: ${yamlProblems[e.code] ?? e.code.toLowerCase().replace(/_/g, ' ')}`;
    });
    if (doc.errors.length > maxMessagesPerDocument) messages.push(`and ${doc.errors.length - maxMessagesPerDocument} more YAML syntax errors`);
    return problem(messages);
  }
  try {
    return { kind: 'value', index, line, value: doc.toJS({ maxAliasCount: limits.maxAliasCount }) as unknown };
  } catch (error) {
    // The library's own messages quote the alias; only their kind is kept.
    if (error instanceof ReferenceError && /excessive alias count/i.test(error.message)) {
      return problem([`aliases expand too much (more than ${limits.maxAliasCount} alias uses counted by size), as in an alias bomb`]);
    }
    if (error instanceof ReferenceError) return problem(['an alias refers to no anchor defined before it']);
    return problem(['the document could not be converted to a value']);
  }
}

/** Nesting depth of a document's collections, walked without recursion: a hostile document may nest far deeper than the stack allows. */
function depthOf(tokens: readonly CST.Token[]): number {
  let deepest = 0;
  const nodes: unknown[] = [...tokens];
  const depths: number[] = tokens.map(() => 0);
  while (nodes.length > 0) {
    const node = nodes.pop() as Record<string, unknown> | undefined;
    const depth = depths.pop() as number;
    if (typeof node !== 'object' || node === null) continue;
    const inner = node['type'] === 'block-map' || node['type'] === 'block-seq' || node['type'] === 'flow-collection' ? depth + 1 : depth;
    if (inner > deepest) deepest = inner;
    const value = node['value'];
    if (typeof value === 'object' && value !== null) {
      nodes.push(value);
      depths.push(inner);
    }
    const items = node['items'];
    if (!Array.isArray(items)) continue;
    for (const item of items as { key?: unknown; value?: unknown }[]) {
      for (const child of [item.key, item.value]) {
        if (typeof child !== 'object' || child === null) continue;
        nodes.push(child);
        depths.push(inner);
      }
    }
  }
  return deepest;
}

/** Where the source of some complete tokens ends: the furthest offset plus source length among them. */
function sourceEnd(tokens: readonly CST.Token[]): number {
  let end = 0;
  const nodes: unknown[] = [...tokens];
  while (nodes.length > 0) {
    const node = nodes.pop();
    if (typeof node !== 'object' || node === null) continue;
    const { offset, source } = node as { offset?: unknown; source?: unknown };
    if (typeof offset === 'number') end = Math.max(end, offset + (typeof source === 'string' ? source.length : 0));
    nodes.push(...(Object.values(node) as unknown[]));
  }
  return end;
}
