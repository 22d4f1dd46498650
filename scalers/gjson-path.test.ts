import { describe, expect, it } from 'vitest';
import { getPath, splitPath } from './gjson-path.js';

const doc = {
  name: { first: 'Tom', last: 'Anderson' },
  age: 37,
  children: ['Sara', 'Alex', 'Jack'],
  'fav.movie': 'Deer Hunter',
  friends: [
    { first: 'Dale', last: 'Murphy', age: 44, nets: ['ig', 'fb', 'tw'] },
    { first: 'Roger', last: 'Craig', age: 68, nets: ['fb', 'tw'] },
    { first: 'Jane', last: 'Murphy', age: 47, nets: ['ig', 'tw'] },
  ],
  components: { worker: { tasks: 12, queued: '250m' } },
};

describe('getPath', () => {
  it.each<[string, unknown]>([
    ['age', 37],
    ['name.last', 'Anderson'],
    ['components.worker.tasks', 12],
    ['children', ['Sara', 'Alex', 'Jack']],
    ['children.#', 3],
    ['children.1', 'Alex'],
    ['child*.2', 'Jack'],
    ['c?ildren.0', 'Sara'],
    ['fav\\.movie', 'Deer Hunter'],
    ['friends.#.first', ['Dale', 'Roger', 'Jane']],
    ['friends.1.last', 'Craig'],
    ['friends.#(last=="Murphy").first', 'Dale'],
    ['friends.#(last=="Murphy")#.first', ['Dale', 'Jane']],
    ['friends.#(age>45)#.last', ['Craig', 'Murphy']],
    ['friends.#(age<=44).first', 'Dale'],
    ['friends.#(first%"D*").last', 'Murphy'],
    ['friends.#(first!%"D*").last', 'Craig'],
    ['friends.#(nets.#(=="fb"))#.first', ['Dale', 'Roger']],
    ['children.#(!="Sara")#', ['Alex', 'Jack']],
    ['friends.#(age>45)#|#', 2],
    ['name|last', 'Anderson'],
  ])('%s', (path, expected) => expect(getPath(doc, path)).toEqual(expected));

  it.each(['missing', 'name.middle', 'children.7', 'friends.#(last=="Nobody").first', 'age.value', ''])('%s finds nothing', (path) => {
    expect(getPath(doc, path)).toBeUndefined();
  });

  it('refuses modifiers and unbalanced conditions instead of missing silently', () => {
    expect(() => getPath(doc, 'children|@reverse')).toThrow('modifier "@reverse" is not supported');
    expect(() => splitPath('friends.#(last=="Murphy"')).toThrow('unbalanced condition');
  });
});
