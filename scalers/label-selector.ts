/**
 * Kubernetes label selectors as kubectl and KEDA's podSelector write them: comma-separated requirements,
 * each `key`, `!key`, `key=value` (or `==`), `key!=value`, `key in (a, b)` or `key notin (a, b)`.
 */

export type Requirement =
  { readonly key: string; readonly op: 'exists' | 'absent' } | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: readonly string[] };

export type Labels = Readonly<Record<string, string>> | undefined;

const keyPattern = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/** Splits at commas outside `( )`. */
function requirementsOf(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of selector) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (depth < 0) throw new Error('unbalanced ")"');
    if (c === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  if (depth !== 0) throw new Error('unbalanced "("');
  parts.push(current);
  return parts.map((p) => p.trim());
}

function checkKey(key: string): string {
  if (!keyPattern.test(key) || key.length > 316) throw new Error(`invalid label key "${key}"`);
  return key;
}

function checkValue(value: string): string {
  if (!valuePattern.test(value) || value.length > 63) throw new Error(`invalid label value "${value}"`);
  return value;
}

function parseRequirement(text: string): Requirement {
  if (text === '') throw new Error('empty requirement');
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/s.exec(text);
  if (set) {
    const values = (set[3] ?? '').split(',').map((v) => checkValue(v.trim()));
    return { key: checkKey(set[1] ?? ''), op: set[2] === 'in' ? 'in' : 'notin', values };
  }
  const compare = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/s.exec(text);
  if (compare) return { key: checkKey(compare[1] ?? ''), op: compare[2] === '!=' ? 'notin' : 'in', values: [checkValue((compare[3] ?? '').trim())] };
  if (text.startsWith('!')) return { key: checkKey(text.slice(1).trim()), op: 'absent' };
  return { key: checkKey(text), op: 'exists' };
}

/** Parses a selector; throws an Error saying what is wrong. An empty selector matches everything. */
export function parseLabelSelector(selector: string): Requirement[] {
  if (selector.trim() === '') return [];
  return requirementsOf(selector).map(parseRequirement);
}

export function matchesLabels(requirements: readonly Requirement[], labels: Labels): boolean {
  return requirements.every((r) => {
    const value = labels?.[r.key];
    switch (r.op) {
      case 'exists':
        return value !== undefined;
      case 'absent':
        return value === undefined;
      case 'in':
        return value !== undefined && r.values.includes(value);
      case 'notin':
        return value === undefined || !r.values.includes(value);
    }
  });
}
