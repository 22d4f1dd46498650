import { describe, expect, it } from 'vitest';
import { computeKafkaLag, nextBalancedFactor, parsePartitionLimitation, type KafkaLagOptions, type KafkaOffsets } from './kafka-lag.js';

const defaults: KafkaLagOptions = {
  lagThreshold: 10,
  offsetResetPolicy: 'latest',
  allowIdleConsumers: false,
  excludePersistentLag: false,
  scaleToZeroOnInvalidOffset: false,
  limitToPartitionsWithLag: false,
  ensureEvenDistributionOfPartitions: false,
};

/** One topic "t": [latest, committed] per partition, in partition order. */
function offsets(pairs: Array<[number, number]>): KafkaOffsets {
  return {
    latest: new Map([['t', new Map(pairs.map(([latest], p) => [p, latest]))]]),
    committed: new Map([['t', new Map(pairs.map(([, committed], p) => [p, committed]))]]),
  };
}

const none = new Map<string, Map<number, number>>();

describe('computeKafkaLag', () => {
  it.each([
    {
      title: 'plain lag is latest minus committed, summed',
      pairs: [
        [10, 4],
        [7, 7],
      ],
      o: {},
      value: 6,
      withPersistent: 6,
    },
    {
      title: 'no commit under latest counts 1 per partition',
      pairs: [
        [500, -1],
        [500, -1],
      ],
      o: {},
      value: 2,
      withPersistent: 2,
    },
    {
      title: 'no commit under latest with scaleToZeroOnInvalidOffset counts 0',
      pairs: [[500, -1]],
      o: { scaleToZeroOnInvalidOffset: true },
      value: 0,
      withPersistent: 0,
    },
    { title: 'no commit under earliest counts the whole log (capped)', pairs: [[25, -1]], o: { offsetResetPolicy: 'earliest' }, value: 10, withPersistent: 25 },
    {
      title: 'no commit under earliest, uncapped with allowIdleConsumers',
      pairs: [[25, -1]],
      o: { offsetResetPolicy: 'earliest', allowIdleConsumers: true },
      value: 25,
      withPersistent: 25,
    },
    {
      title: 'no commit under earliest with scaleToZeroOnInvalidOffset counts 0',
      pairs: [[25, -1]],
      o: { offsetResetPolicy: 'earliest', scaleToZeroOnInvalidOffset: true },
      value: 0,
      withPersistent: 0,
    },
    {
      title: 'capped at partitions × threshold',
      pairs: [
        [1000, 0],
        [1000, 0],
        [1000, 0],
      ],
      o: {},
      value: 30,
      withPersistent: 3000,
    },
    {
      title: 'exactly at the cap is kept',
      pairs: [
        [10, 0],
        [10, 0],
      ],
      o: {},
      value: 20,
      withPersistent: 20,
    },
    {
      title: 'integer division: 39/10 = 3 is not above 3 partitions',
      pairs: [
        [39, 0],
        [0, 0],
        [0, 0],
      ],
      o: {},
      value: 39,
      withPersistent: 39,
    },
    {
      title: 'allowIdleConsumers lifts the cap',
      pairs: [
        [1000, 0],
        [1000, 0],
      ],
      o: { allowIdleConsumers: true },
      value: 2000,
      withPersistent: 2000,
    },
    {
      title: 'limitToPartitionsWithLag caps at partitions that lag',
      pairs: [
        [1000, 0],
        [5, 5],
        [5, 5],
      ],
      o: { limitToPartitionsWithLag: true },
      value: 10,
      withPersistent: 1000,
    },
    {
      title: 'ensureEven rounds up to a factor of the partition count',
      pairs: [
        [15, 0],
        [0, 0],
        [0, 0],
        [0, 0],
      ],
      o: { ensureEvenDistributionOfPartitions: true },
      value: 20,
      withPersistent: 15,
    },
    {
      title: 'ensureEven with 3 partitions jumps from 1 to 3',
      pairs: [
        [11, 0],
        [0, 0],
        [0, 0],
      ],
      o: { ensureEvenDistributionOfPartitions: true },
      value: 30,
      withPersistent: 11,
    },
    {
      title: 'ensureEven with no lag still yields one factor',
      pairs: [
        [0, 0],
        [0, 0],
      ],
      o: { ensureEvenDistributionOfPartitions: true },
      value: 10,
      withPersistent: 0,
    },
  ] satisfies Array<{ title: string; pairs: Array<[number, number]>; o: Partial<KafkaLagOptions>; value: number; withPersistent: number }>)(
    '$title',
    ({ pairs, o, value, withPersistent }) => {
      const lag = computeKafkaLag(offsets(pairs), none, { ...defaults, ...o });
      expect(lag.value).toBe(value);
      expect(lag.lagWithPersistent).toBe(withPersistent);
      expect(lag.partitions).toBe(pairs.length);
    },
  );

  it('partitionLimitation counts only the listed partitions, including for the cap', () => {
    const lag = computeKafkaLag(
      offsets([
        [100, 0],
        [100, 0],
        [3, 0],
      ]),
      none,
      { ...defaults, partitionLimitation: [0, 2] },
    );
    expect(lag.partitions).toBe(2);
    expect(lag.value).toBe(20);
    expect(lag.lagWithPersistent).toBe(103);
  });

  it('excludePersistentLag ignores partitions whose commit has not moved since the previous poll', () => {
    const o = { ...defaults, excludePersistentLag: true, allowIdleConsumers: true };
    const first = computeKafkaLag(
      offsets([
        [50, 10],
        [50, 20],
      ]),
      none,
      o,
    );
    expect(first.value).toBe(70);
    const second = computeKafkaLag(
      offsets([
        [60, 10],
        [60, 30],
      ]),
      first.previousCommitted,
      o,
    );
    expect(second.value).toBe(30);
    expect(second.lagWithPersistent).toBe(80);
    const third = computeKafkaLag(
      offsets([
        [60, 15],
        [60, 30],
      ]),
      second.previousCommitted,
      o,
    );
    expect(third.value).toBe(45);
  });

  it('a partition with no committed-offset entry at all is an error', () => {
    const missingCommit: KafkaOffsets = { latest: new Map([['t', new Map([[0, 5]])]]), committed: new Map() };
    expect(() => computeKafkaLag(missingCommit, none, defaults)).toThrow('error finding offset block for topic t and partition 0');
  });

  it('sums across topics when the group consumes several', () => {
    const many: KafkaOffsets = {
      latest: new Map([
        ['a', new Map([[0, 5]])],
        [
          'b',
          new Map([
            [0, 8],
            [1, 2],
          ]),
        ],
      ]),
      committed: new Map([
        ['a', new Map([[0, 1]])],
        [
          'b',
          new Map([
            [0, 8],
            [1, -1],
          ]),
        ],
      ]),
    };
    const lag = computeKafkaLag(many, none, { ...defaults, allowIdleConsumers: true });
    expect(lag.value).toBe(5);
    expect(lag.partitions).toBe(3);
  });
});

describe('nextBalancedFactor', () => {
  it.each([
    [0, 6, 10, 1],
    [10, 6, 10, 1],
    [11, 6, 10, 2],
    [25, 6, 10, 3],
    [31, 6, 10, 6],
    [999, 6, 10, 6],
    [15, 7, 10, 7],
  ])('lag %i over %i partitions at threshold %i → %i', (lag, partitions, threshold, factor) => {
    expect(nextBalancedFactor(lag, partitions, threshold)).toBe(factor);
  });
});

describe('parsePartitionLimitation', () => {
  it.each([
    ['1,2,3', [1, 2, 3]],
    ['1, 5-7 ,10', [1, 5, 6, 7, 10]],
    ['0', [0]],
  ])('%s', (raw, expected) => expect(parsePartitionLimitation(raw)).toEqual(expected));
  it.each([
    ['a', 'invalid partition limitation: a'],
    ['1,,2', 'invalid partition limitation: '],
    ['5-2', 'invalid partition limitation range: 5-2'],
    ['1-x', 'invalid partition limitation range: 1-x'],
    ['0-2147483647', 'invalid partition limitation range: 0-2147483647'],
  ])('rejects %s', (raw, message) => expect(() => parsePartitionLimitation(raw)).toThrow(message));
});
