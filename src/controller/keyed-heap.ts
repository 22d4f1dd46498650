interface Slot<K> {
  key: K;
  priority: number;
  /** Insertion counter: equal priorities come out first-in first-out. */
  order: number;
  /** Where the slot sits in the heap array, kept on the slot so moving it costs no lookup by key. */
  at: number;
}

/**
 * A binary min-heap holding each key at most once, with O(log n) insert, re-prioritise and delete by key.
 * Memory is one slot per key: nothing accumulates over time however often keys are re-prioritised.
 */
export class KeyedMinHeap<K> {
  #slots: Slot<K>[] = [];
  #index = new Map<K, Slot<K>>();
  #order = 0;

  get size(): number {
    return this.#slots.length;
  }

  priorityOf(key: K): number | undefined {
    return this.#index.get(key)?.priority;
  }

  /** Inserts `key`, or moves it to `priority` if it is already present. */
  set(key: K, priority: number): void {
    const slot = this.#index.get(key);
    if (slot === undefined) {
      const added = { key, priority, order: this.#order++, at: this.#slots.length };
      this.#slots.push(added);
      this.#index.set(key, added);
      this.#up(added.at);
      return;
    }
    slot.priority = priority;
    slot.order = this.#order++;
    this.#down(this.#up(slot.at));
  }

  delete(key: K): boolean {
    const slot = this.#index.get(key);
    if (slot === undefined) return false;
    this.#removeAt(slot.at);
    return true;
  }

  peek(): { key: K; priority: number } | undefined {
    const top = this.#slots[0];
    return top && { key: top.key, priority: top.priority };
  }

  pop(): { key: K; priority: number } | undefined {
    const top = this.#slots[0];
    if (!top) return undefined;
    this.#removeAt(0);
    return { key: top.key, priority: top.priority };
  }

  clear(): void {
    this.#slots = [];
    this.#index.clear();
  }

  #removeAt(at: number): void {
    const removed = this.#slots[at]!;
    const last = this.#slots.pop()!;
    this.#index.delete(removed.key);
    if (at === this.#slots.length) return;
    this.#slots[at] = last;
    last.at = at;
    this.#down(this.#up(at));
  }

  #less(a: number, b: number): boolean {
    const x = this.#slots[a]!;
    const y = this.#slots[b]!;
    return x.priority < y.priority || (x.priority === y.priority && x.order < y.order);
  }

  #swap(a: number, b: number): void {
    const x = this.#slots[a]!;
    const y = this.#slots[b]!;
    this.#slots[a] = y;
    this.#slots[b] = x;
    y.at = a;
    x.at = b;
  }

  #up(at: number): number {
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (!this.#less(at, parent)) break;
      this.#swap(at, parent);
      at = parent;
    }
    return at;
  }

  #down(at: number): void {
    for (;;) {
      const left = 2 * at + 1;
      const right = left + 1;
      let smallest = at;
      if (left < this.#slots.length && this.#less(left, smallest)) smallest = left;
      if (right < this.#slots.length && this.#less(right, smallest)) smallest = right;
      if (smallest === at) return;
      this.#swap(at, smallest);
      at = smallest;
    }
  }
}
