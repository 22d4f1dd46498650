import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['1m30s', 90_000],
    ['2h', 7_200_000],
    ['0s', 0],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text, 'x')).toBe(ms);
  });

  it.each(['', '5', 's', '5 s', '-1s', '1d'])('rejects %j naming the field', (text) => {
    expect(() => parseDuration(text, 'annotation swell.dev/simulate-run-duration')).toThrow(/simulate-run-duration.*not a duration/);
  });
});
