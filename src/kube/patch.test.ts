import { describe, expect, it } from 'vitest';
import { jsonPointerSegment } from './patch.js';

describe('jsonPointerSegment', () => {
  it.each([
    ['autoscaling.keda.sh/paused', 'autoscaling.keda.sh~1paused'],
    ['a~b/c', 'a~0b~1c'],
    ['plain', 'plain'],
  ])('escapes %s as %s', (segment, escaped) => {
    expect(jsonPointerSegment(segment)).toBe(escaped);
  });
});
