import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyedMinHeap } from './keyed-heap.js';

function drain<K>(heap: KeyedMinHeap<K>): { key: K; priority: number }[] {
  const out: { key: K; priority: number }[] = [];
  for (let next = heap.pop(); next; next = heap.pop()) out.push(next);
  return out;
}

describe('KeyedMinHeap', () => {
  it('pops in priority order, first-in first-out among equal priorities', () => {
    const heap = new KeyedMinHeap<string>();
    heap.set('c', 3);
    heap.set('a', 1);
    heap.set('b1', 2);
    heap.set('b2', 2);
    expect(drain(heap).map((e) => e.key)).toEqual(['a', 'b1', 'b2', 'c']);
  });

  it('holds a key once and moves it when re-prioritised', () => {
    const heap = new KeyedMinHeap<string>();
    heap.set('x', 10);
    heap.set('y', 5);
    heap.set('x', 1);
    expect(heap.size).toBe(2);
    expect(heap.peek()).toEqual({ key: 'x', priority: 1 });
    heap.set('x', 20);
    expect(drain(heap).map((e) => e.key)).toEqual(['y', 'x']);
  });

  it('deletes by key from anywhere in the heap', () => {
    const heap = new KeyedMinHeap<number>();
    for (let i = 0; i < 10; i++) heap.set(i, 10 - i);
    expect(heap.delete(4)).toBe(true);
    expect(heap.delete(4)).toBe(false);
    expect(heap.priorityOf(4)).toBeUndefined();
    expect(drain(heap).map((e) => e.key)).toEqual([9, 8, 7, 6, 5, 3, 2, 1, 0]);
  });

  it('matches a sorted model under random sets and deletes', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 20 }), priority: fc.integer({ min: -50, max: 50 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 20 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const heap = new KeyedMinHeap<number>();
        const model = new Map<number, number>();
        for (const o of ops) {
          if (o.kind === 'set') {
            heap.set(o.key, o.priority);
            model.set(o.key, o.priority);
          } else {
            expect(heap.delete(o.key)).toBe(model.delete(o.key));
          }
        }
        expect(heap.size).toBe(model.size);
        const priorities = drain(heap).map((e) => e.priority);
        expect(priorities).toEqual([...model.values()].sort((a, b) => a - b));
      }),
    );
  });
});
