import { describe, expect, it } from 'vitest';
import { excludedLabelKeys, parseGoBool, parseGoInt32, readPauseState, type PauseState } from './annotations.js';

const none: PauseState = { paused: false, pausedScaleIn: false, pausedScaleOut: false, forceActivation: false };

describe('readPauseState', () => {
  it.each<[string, Record<string, string> | undefined, PauseState]>([
    ['no annotations', undefined, none],
    ['paused true', { 'autoscaling.keda.sh/paused': 'true' }, { ...none, paused: true }],
    ['paused T (Go ParseBool)', { 'autoscaling.keda.sh/paused': 'T' }, { ...none, paused: true }],
    ['paused with an unparsable value', { 'autoscaling.keda.sh/paused': 'yes please' }, { ...none, paused: true }],
    ['paused false', { 'autoscaling.keda.sh/paused': 'false' }, none],
    ['paused 0', { 'autoscaling.keda.sh/paused': '0' }, none],
    ['paused-replicas alone', { 'autoscaling.keda.sh/paused-replicas': '3' }, { ...none, paused: true, pausedReplicas: 3 }],
    [
      'paused-replicas beats paused=false',
      { 'autoscaling.keda.sh/paused-replicas': '0', 'autoscaling.keda.sh/paused': 'false' },
      { ...none, paused: true, pausedReplicas: 0 },
    ],
    ['unparsable paused-replicas still pauses', { 'autoscaling.keda.sh/paused-replicas': 'two' }, { ...none, paused: true, invalidPausedReplicas: 'two' }],
    [
      'scale-in and scale-out',
      { 'autoscaling.keda.sh/paused-scale-in': 'true', 'autoscaling.keda.sh/paused-scale-out': '1' },
      { ...none, pausedScaleIn: true, pausedScaleOut: true },
    ],
    ['unparsable scale-in is ignored', { 'autoscaling.keda.sh/paused-scale-in': 'sure' }, none],
    ['force-activation', { 'autoscaling.keda.sh/force-activation': 'TRUE' }, { ...none, forceActivation: true }],
  ])('%s', (_n, annotations, expected) => {
    expect(readPauseState(annotations)).toEqual(expected);
  });
});

describe('Go parsers', () => {
  it.each<[string, boolean | undefined]>([
    ['1', true],
    ['t', true],
    ['True', true],
    ['0', false],
    ['F', false],
    ['FALSE', false],
    ['yes', undefined],
    ['tRUE', undefined],
    ['', undefined],
  ])('ParseBool(%j) = %s', (text, expected) => {
    expect(parseGoBool(text)).toBe(expected);
  });

  it.each<[string, number | undefined]>([
    ['3', 3],
    ['+3', 3],
    ['-2', -2],
    ['2147483647', 2147483647],
    ['2147483648', undefined],
    ['1.5', undefined],
    [' 3', undefined],
  ])('ParseInt(%j, 10, 32) = %s', (text, expected) => {
    expect(parseGoInt32(text)).toBe(expected);
  });

  it('splits exclusion lists', () => {
    expect([...excludedLabelKeys({ k: 'a, b,,c ' }, 'k')]).toEqual(['a', 'b', 'c']);
    expect(excludedLabelKeys(undefined, 'k').size).toBe(0);
  });
});
