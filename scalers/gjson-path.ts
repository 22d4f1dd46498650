/**
 * The part of GJSON's path syntax that KEDA's metrics-api users write in valueLocation, over a parsed JSON value:
 *
 * - `a.b.c` walks objects; a number walks arrays (`items.0.count`); `\` escapes `.`, `*`, `?` and itself.
 * - `*` and `?` in a key match any run of characters and any one character; the first matching key wins.
 * - `#` is an array's length; `#.key` is that key of every element, as an array.
 * - `#(key op value)` is the first element where the condition holds, `#(...)#` every such element; op is one
 *   of `==`, `!=`, `<`, `<=`, `>`, `>=`, `%` (like, with * and ?) and `!%`; `#(key)` tests presence and
 *   `#(==value)` compares the element itself. Values are numbers, "strings", true, false or null.
 * - `|` continues the path on what the part before it gave, like `.`.
 *
 * Modifiers (`@reverse`...) and multipaths are not part of it; a path using them is an error, not a silent miss.
 */

export class PathError extends Error {}

type Json = unknown;

/** One step of a path; `piped` when `|` came before it, so it applies to a query's result as a whole. */
interface Step {
  readonly part: string;
  readonly piped: boolean;
}

/** Splits at unescaped `.` and `|`, keeping `#(...)` conditions whole; escapes stay in the parts. */
export function splitPath(path: string): string[] {
  return steps(path).map((s) => s.part);
}

function steps(path: string): Step[] {
  const parts: Step[] = [];
  let current = '';
  let piped = false;
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < path.length; i++) {
    const c = path[i] ?? '';
    if (c === '\\' && i + 1 < path.length) {
      current += c + (path[++i] ?? '');
      continue;
    }
    if (depth > 0 && c === '"') quoted = !quoted;
    if (!quoted && c === '(' && current === '#') depth++;
    else if (!quoted && depth > 0 && c === '(') depth++;
    else if (!quoted && depth > 0 && c === ')') depth--;
    if (depth === 0 && (c === '.' || c === '|')) {
      parts.push({ part: current, piped });
      current = '';
      piped = c === '|';
      continue;
    }
    current += c;
  }
  if (depth !== 0 || quoted) throw new PathError(`unbalanced condition in path "${path}"`);
  parts.push({ part: current, piped });
  return parts;
}

const unescape = (part: string): string => part.replace(/\\(.)/g, '$1');
const hasWildcard = (part: string): boolean => /(^|[^\\])[*?]/.test(part);

/** A GJSON key pattern as a regular expression: * any run, ? one character, escaped characters literal. */
function wildcardPattern(part: string): RegExp {
  let source = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i] ?? '';
    if (c === '\\') source += escapeRegExp(part[++i] ?? '');
    else if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`, 's');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The value at `path`, or undefined when nothing is there. */
export function getPath(value: Json, path: string): Json {
  if (path === '') return undefined;
  return walk(value, steps(path));
}

function walk(value: Json, parts: readonly Step[]): Json {
  if (parts.length === 0) return value;
  const [{ part } = { part: '' }, ...rest] = parts;
  if (part.startsWith('@')) throw new PathError(`modifier "${part}" is not supported`);
  if (part === '') throw new PathError('empty part in path');
  if (Array.isArray(value)) return walkArray(value, part, rest);
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, Json>;
    if (hasWildcard(part)) {
      const pattern = wildcardPattern(part);
      const key = Object.keys(record).find((k) => pattern.test(k));
      return key === undefined ? undefined : walk(record[key], rest);
    }
    const key = unescape(part);
    return Object.hasOwn(record, key) ? walk(record[key], rest) : undefined;
  }
  return undefined;
}

/** Applies the rest of the path to each element, or, after a pipe, to the array as a whole. */
function eachOrWhole(items: readonly Json[], rest: readonly Step[]): Json {
  if (rest[0]?.piped) return walk(items, rest);
  return items.map((item) => walk(item, rest)).filter((v) => v !== undefined);
}

function walkArray(items: readonly Json[], part: string, rest: readonly Step[]): Json {
  if (part === '#') return rest.length === 0 ? items.length : eachOrWhole(items, rest);
  const condition = /^#\((.*)\)(#?)$/s.exec(part);
  if (condition) {
    const test = parseCondition(condition[1] ?? '');
    const matches = items.filter(test);
    if (condition[2] === '#') return rest.length === 0 ? matches : eachOrWhole(matches, rest);
    return matches.length === 0 ? undefined : walk(matches[0], rest);
  }
  if (/^\d+$/.test(part)) {
    const index = Number(part);
    return index < items.length ? walk(items[index], rest) : undefined;
  }
  return undefined;
}

const operators = ['==', '!=', '<=', '>=', '!%', '<', '>', '%', '='] as const;
type Operator = (typeof operators)[number];

function parseCondition(text: string): (item: Json) => boolean {
  let at = -1;
  let operator: Operator | undefined;
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < text.length && operator === undefined; i++) {
    const c = text[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (!quoted && c === '(') depth++;
    if (!quoted && c === ')') depth--;
    if (quoted || depth > 0) continue;
    operator = operators.find((op) => text.startsWith(op, i));
    if (operator) at = i;
  }
  if (operator === undefined) {
    const key = text.trim();
    return (item) => (key === '' ? item !== undefined : getPath(item, key) !== undefined);
  }
  const key = text.slice(0, at).trim();
  const expected = parseLiteral(text.slice(at + operator.length).trim());
  const op: Operator = operator === '=' ? '==' : operator;
  return (item) => {
    const actual = key === '' ? item : getPath(item, key);
    return actual !== undefined && compare(actual, op, expected);
  };
}

function parseLiteral(raw: string): Json {
  if (raw.startsWith('"')) {
    if (!raw.endsWith('"') || raw.length < 2) throw new PathError(`unterminated string ${raw} in condition`);
    return raw.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (raw === 'null') return null;
  if (raw !== '' && Number.isFinite(Number(raw))) return Number(raw);
  // GJSON treats a bare word as a string.
  return raw;
}

function compare(actual: Json, op: Operator, expected: Json): boolean {
  if (op === '%' || op === '!%') {
    const like = typeof actual === 'string' && typeof expected === 'string' && wildcardPattern(expected).test(actual);
    return op === '%' ? like : !like;
  }
  if (typeof actual === 'number' && typeof expected === 'number') return ordered(actual, op, expected);
  if (typeof actual === 'string' && typeof expected === 'string') return ordered(actual, op, expected);
  if (op === '==') return actual === expected;
  if (op === '!=') return actual !== expected;
  return false;
}

function ordered<T extends number | string>(a: T, op: Operator, b: T): boolean {
  switch (op) {
    case '==':
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '%':
    case '!%':
      return false;
  }
}
