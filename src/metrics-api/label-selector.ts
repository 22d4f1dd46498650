/** The label the HPA passes in its selector to say which ScaledObject a metric belongs to. */
export const scaledObjectLabel = 'scaledobject.keda.sh/name';

export class LabelSelectorError extends Error {
  override readonly name = 'LabelSelectorError';
}

/**
 * Reads the equality requirements (`key=value`, `key==value`) of a Kubernetes label selector into a map.
 * Other requirements (`!=`, `in`, `notin`, `key`, `!key`) are valid but say nothing about which ScaledObject
 * is meant, so they are skipped. Commas inside `in (...)` sets do not split requirements.
 */
export function equalityRequirements(selector: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const requirement of splitRequirements(selector)) {
    const match = /^([^!=\s]+)\s*(==|=)\s*([^=!\s]*)$/.exec(requirement);
    if (!match) {
      if (requirement.includes('=') && !requirement.includes('!=')) throw new LabelSelectorError(`invalid label selector requirement "${requirement}"`);
      continue;
    }
    const [, key = '', , value = ''] = match;
    const previous = result.get(key);
    if (previous !== undefined && previous !== value) {
      throw new LabelSelectorError(`label selector requires "${key}" to equal both "${previous}" and "${value}"`);
    }
    result.set(key, value);
  }
  return result;
}

function splitRequirements(selector: string): string[] {
  // The HPA's selectors have no sets; only a selector with parentheses needs the character walk.
  if (!selector.includes('(') && !selector.includes(')')) return trimmed(selector.split(','));
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (depth < 0) throw new LabelSelectorError(`unbalanced ")" in label selector "${selector}"`);
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  if (depth !== 0) throw new LabelSelectorError(`unbalanced "(" in label selector "${selector}"`);
  parts.push(current);
  return trimmed(parts);
}

function trimmed(parts: string[]): string[] {
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}
