import { describe, expect, it } from 'vitest';
import { LabelSelectorError, equalityRequirements } from './label-selector.js';

describe('equalityRequirements', () => {
  it.each([
    ['scaledobject.keda.sh/name=orders', { 'scaledobject.keda.sh/name': 'orders' }],
    ['scaledobject.keda.sh/name==orders', { 'scaledobject.keda.sh/name': 'orders' }],
    [' scaledobject.keda.sh/name = orders ', { 'scaledobject.keda.sh/name': 'orders' }],
    ['a=1,b=2', { a: '1', b: '2' }],
    ['a=1,a=1', { a: '1' }],
    ['a=', { a: '' }],
    ['a!=1,b=2', { b: '2' }],
    ['env in (prod, staging),b=2', { b: '2' }],
    ['env notin (a,b),!legacy,tier,b=2', { b: '2' }],
    ['', {}],
    [',,', {}],
  ])('%j', (selector, expected) => {
    expect(Object.fromEntries(equalityRequirements(selector))).toEqual(expected);
  });

  it.each([
    ['a=1,a=2', /both "1" and "2"/],
    ['env in (a,b', /unbalanced "\("/],
    ['env in a,b)', /unbalanced "\)"/],
    ['a=b=c', /invalid label selector requirement "a=b=c"/],
    ['=x', /invalid label selector requirement "=x"/],
  ])('rejects %j', (selector, message) => {
    expect(() => equalityRequirements(selector)).toThrow(LabelSelectorError);
    expect(() => equalityRequirements(selector)).toThrow(message);
  });
});
