import type { FieldError } from './schema-validation.js';

/*
 * The apiserver's own checks of ObjectMeta that a KEDA manifest can fail (names, labels, annotations), run on the
 * raw document so they are reported even when the rest of the object fails its schema. Messages name the limit,
 * never the offending value beyond its length: a value may be anything a user pasted.
 */

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** The apiserver's limit on all annotations of an object together (keys plus values, in bytes). */
export const totalAnnotationSizeLimit = 256 * 1024;
const maxSubdomainLength = 253;
const maxLabelLength = 63;

export interface ObjectMetaRules {
  /** Namespaced kinds get their namespace checked. */
  namespaced: boolean;
  /** A shorter name limit the kind needs (KEDA puts the name in a label value, for one). */
  maxNameLength?: { limit: number; why: string };
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Problems the apiserver would refuse the object for; fields of the wrong type are left to the schema check. */
export function objectMetaErrors(metadata: unknown, rules: ObjectMetaRules): FieldError[] {
  const meta = record(metadata);
  if (!meta) return [];
  const errors: FieldError[] = [];
  const { name, generateName, namespace } = meta;
  if (typeof name === 'string' && name !== '') errors.push(...nameErrors('metadata.name', name, rules));
  else if (name === undefined && (typeof generateName !== 'string' || generateName === ''))
    errors.push({ path: 'metadata.name', message: 'name or generateName is required' });
  if (rules.namespaced && typeof namespace === 'string' && namespace !== '' && !isDns1123Label(namespace)) {
    errors.push({ path: 'metadata.namespace', message: `must be a lowercase RFC 1123 label of at most ${maxLabelLength} characters (is ${namespace.length})` });
  }
  errors.push(...labelErrors(record(meta['labels'])), ...annotationErrors(record(meta['annotations'])));
  return errors;
}

function nameErrors(path: string, name: string, rules: ObjectMetaRules): FieldError[] {
  if (name.length > maxSubdomainLength || !dns1123Subdomain.test(name)) {
    return [
      {
        path,
        message: `must be a lowercase RFC 1123 subdomain of at most ${maxSubdomainLength} characters (is ${name.length}): a-z, 0-9, '-' and '.', starting and ending alphanumeric`,
      },
    ];
  }
  const max = rules.maxNameLength;
  return max && name.length > max.limit ? [{ path, message: `must be no more than ${max.limit} characters (is ${name.length}): ${max.why}` }] : [];
}

export function isDns1123Label(value: string): boolean {
  return value.length <= maxLabelLength && dns1123Label.test(value);
}

/** A label or annotation key: an optional DNS subdomain prefix and '/', then a name of at most 63 characters. */
function qualifiedNameProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > maxSubdomainLength || !dns1123Subdomain.test(prefix)))
    return 'the prefix before "/" must be a lowercase RFC 1123 subdomain';
  if (name.length === 0 || name.length > maxLabelLength || !qualifiedNamePart.test(name)) {
    return `the name must be 1 to ${maxLabelLength} characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending alphanumeric`;
  }
  return undefined;
}

function keyPath(field: string, key: string, index: number): string {
  // A key can be as long and as odd as the user made it; a long one is named by its position instead.
  return key.length <= 100 && /^[\x20-\x7e]*$/.test(key) ? `metadata.${field}[${JSON.stringify(key)}]` : `metadata.${field} (key #${index + 1})`;
}

function labelErrors(labels: Record<string, unknown> | undefined): FieldError[] {
  if (!labels) return [];
  return Object.entries(labels).flatMap(([key, value], index) => {
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) return [{ path: keyPath('labels', key, index), message: `invalid label key: ${keyProblem}` }];
    if (typeof value === 'string' && (value.length > maxLabelLength || !labelValue.test(value))) {
      return [
        {
          path: keyPath('labels', key, index),
          message: `invalid label value (${value.length} characters): at most ${maxLabelLength} of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending alphanumeric`,
        },
      ];
    }
    return [];
  });
}

function annotationErrors(annotations: Record<string, unknown> | undefined): FieldError[] {
  if (!annotations) return [];
  const errors: FieldError[] = [];
  let size = 0;
  Object.entries(annotations).forEach(([key, value], index) => {
    size += Buffer.byteLength(key) + (typeof value === 'string' ? Buffer.byteLength(value) : 0);
    const keyProblem = qualifiedNameProblem(key);
    if (keyProblem) errors.push({ path: keyPath('annotations', key, index), message: `invalid annotation key: ${keyProblem}` });
  });
  if (size > totalAnnotationSizeLimit)
    errors.push({ path: 'metadata.annotations', message: `may not be more than ${totalAnnotationSizeLimit} bytes in total (is ${size})` });
  return errors;
}
