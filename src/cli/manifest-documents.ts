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
  | { kind: 'value'; index: number; line: number; value: unknown }
  | { kind: 'problem'; index: number; line: number; messages: string[] };

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
  const flush = function* (): Generator<ManifestDocument> {
    const tokens = group;
    group = [];
    if (!tokens.some((t) => t.type === 'document' || t.type === 'error')) return;
    index += 1;
    yield readDocument(tokens, index, limits, at);
  };
  for (const token of new Parser(lines.addNewLine).parse(text)) {
    if ((token.type === 'document' || token.type === 'directive') && group.some((t) => t.type === 'document')) yield* flush();
    group.push(token);
  }
  yield* flush();
}

function readDocument(tokens: CST.Token[], index: number, limits: DocumentLimits, at: (offset: number) => { line: number; col: number }): ManifestDocument {
  const first = tokens.find((t) => t.type === 'document') ?? tokens[0];
  const line = first ? at(first.offset).line : 1;
  const problem = (messages: string[]): ManifestDocument => ({ kind: 'problem', index, line, messages });
  const shape = measure(tokens);
  if (shape.bytes > limits.maxDocumentBytes) return problem([`the document is ${shape.bytes} characters long; the apiserver refuses objects over ${limits.maxDocumentBytes} bytes`]);
  if (shape.depth > limits.maxDepth) return problem([`the document nests more than ${limits.maxDepth} levels deep`]);
  let doc: Document.Parsed | undefined;
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true });
  try {
    for (const token of tokens) for (const composed of composer.next(token)) doc = composed;
    for (const composed of composer.end(true, shape.end)) doc = composed;
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
    if (error instanceof ReferenceError) return problem([`aliases expand too much (more than ${limits.maxAliasCount} alias uses counted by size), as in an alias bomb`]);
    return problem(['the document could not be converted to a value']);
  }
}

/**
 * Size (first to last source offset), nesting depth and end offset of a document's tokens, walked without
 * recursion: the tokens of a hostile document may nest far deeper than the stack allows.
 */
function measure(tokens: readonly CST.Token[]): { bytes: number; depth: number; end: number } {
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  let depth = 0;
  const stack: [unknown, number][] = tokens.map((t) => [t, 0]);
  const nests = new Set(['block-map', 'block-seq', 'flow-collection']);
  while (stack.length > 0) {
    const [node, level] = stack.pop() as [unknown, number];
    if (Array.isArray(node)) {
      for (const child of node) stack.push([child, level]);
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    const token = node as { type?: unknown; offset?: unknown; source?: unknown };
    const inner = typeof token.type === 'string' && nests.has(token.type) ? level + 1 : level;
    depth = Math.max(depth, inner);
    if (typeof token.offset === 'number') {
      start = Math.min(start, token.offset);
      end = Math.max(end, token.offset + (typeof token.source === 'string' ? token.source.length : 0));
    }
    for (const value of Object.values(node)) if (typeof value === 'object' && value !== null) stack.push([value, inner]);
  }
  return { bytes: Number.isFinite(start) ? end - start : 0, depth, end };
}
