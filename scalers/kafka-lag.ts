/**
 * KEDA's Kafka lag arithmetic as a pure function of observed offsets, so every edge case is testable by table:
 * missing commits under each offsetResetPolicy, persistent lag, and capping the value at the partition count.
 */

/** Offsets by topic, then partition. */
export type OffsetsByTopic = ReadonlyMap<string, ReadonlyMap<number, number>>;

/** What one poll saw: the latest (high-watermark) offsets and the group's committed offsets (-1 = none). */
export interface KafkaOffsets {
  latest: OffsetsByTopic;
  committed: OffsetsByTopic;
}

export interface KafkaLagOptions {
  lagThreshold: number;
  offsetResetPolicy: 'latest' | 'earliest';
  allowIdleConsumers: boolean;
  excludePersistentLag: boolean;
  scaleToZeroOnInvalidOffset: boolean;
  limitToPartitionsWithLag: boolean;
  ensureEvenDistributionOfPartitions: boolean;
  /** Only these partitions count (applies when a topic is set); undefined means all. */
  partitionLimitation?: readonly number[];
}

export interface KafkaLag {
  /** The metric value: total lag after capping. */
  value: number;
  /** Total lag including partitions whose consumer is stuck; activity is judged on this, uncapped. */
  lagWithPersistent: number;
  /** Partitions that counted (after partitionLimitation). */
  partitions: number;
  /** Committed offsets to compare against on the next poll (excludePersistentLag). */
  previousCommitted: OffsetsByTopic;
}

const noCommit = -1;

interface PartitionLag {
  lag: number;
  lagWithPersistent: number;
}

function partitionLag(committed: number, latest: number | undefined, previous: number | undefined, o: KafkaLagOptions): PartitionLag {
  if (committed === noCommit && o.offsetResetPolicy === 'latest') {
    const lag = o.scaleToZeroOnInvalidOffset ? 0 : 1;
    return { lag, lagWithPersistent: lag };
  }
  // A partition the broker did not report a latest offset for counts as no lag (seen with Event Hubs).
  if (latest === undefined) return { lag: 0, lagWithPersistent: 0 };
  if (committed === noCommit) {
    const lag = o.scaleToZeroOnInvalidOffset ? 0 : latest;
    return { lag, lagWithPersistent: lag };
  }
  const lag = latest - committed;
  if (o.excludePersistentLag && previous === committed) return { lag: 0, lagWithPersistent: lag };
  return { lag, lagWithPersistent: lag };
}

/** The smallest factor f of the partition count with f × threshold ≥ lag, so consumers split partitions evenly. */
export function nextBalancedFactor(totalLag: number, partitions: number, lagThreshold: number): number {
  for (let f = 1; f <= partitions; f++) {
    if (partitions % f === 0 && f * lagThreshold >= totalLag) return f;
  }
  return partitions;
}

function withinLimitation(partition: number, limitation: readonly number[] | undefined): boolean {
  return limitation === undefined || limitation.includes(partition);
}

/**
 * Sums lag over the partitions the broker reported latest offsets for. Throws when a partition has no
 * committed-offset entry at all (the group fetch failed for it), as KEDA does.
 */
export function computeKafkaLag(offsets: KafkaOffsets, previousCommitted: OffsetsByTopic, o: KafkaLagOptions): KafkaLag {
  let totalLag = 0;
  let lagWithPersistent = 0;
  let partitionsWithLag = 0;
  let totalPartitions = 0;
  const nextPrevious = new Map<string, Map<number, number>>();
  for (const [topic, latestByPartition] of offsets.latest) {
    for (const [partition, latest] of latestByPartition) {
      if (!withinLimitation(partition, o.partitionLimitation)) continue;
      const committed = offsets.committed.get(topic)?.get(partition);
      if (committed === undefined) {
        throw new Error(`error finding offset block for topic ${topic} and partition ${partition}`);
      }
      const result = partitionLag(committed, latest, previousCommitted.get(topic)?.get(partition), o);
      totalPartitions++;
      totalLag += result.lag;
      lagWithPersistent += result.lagWithPersistent;
      if (result.lag > 0) partitionsWithLag++;
      if (committed !== noCommit) {
        const topicPrevious = nextPrevious.get(topic) ?? new Map<number, number>();
        topicPrevious.set(partition, committed);
        nextPrevious.set(topic, topicPrevious);
      }
    }
  }
  return {
    value: capLag(totalLag, totalPartitions, partitionsWithLag, o),
    lagWithPersistent,
    partitions: totalPartitions,
    previousCommitted: nextPrevious,
  };
}

function capLag(totalLag: number, totalPartitions: number, partitionsWithLag: number, o: KafkaLagOptions): number {
  if (o.allowIdleConsumers && !o.limitToPartitionsWithLag && !o.ensureEvenDistributionOfPartitions) return totalLag;
  let lag = totalLag;
  let upperBound = totalPartitions;
  if (o.ensureEvenDistributionOfPartitions) lag = nextBalancedFactor(lag, totalPartitions, o.lagThreshold) * o.lagThreshold;
  if (o.limitToPartitionsWithLag) upperBound = partitionsWithLag;
  if (Math.floor(lag / o.lagThreshold) > upperBound) lag = upperBound * o.lagThreshold;
  return lag;
}

const maxRangeSize = 100_000;

/** "1,2,10-20" → [1, 2, 10, ..., 20], with KEDA's error wording. */
export function parsePartitionLimitation(raw: string): number[] {
  const partitions: number[] = [];
  const int32 = (s: string): number | undefined => {
    const n = Number(s);
    return /^-?\d+$/.test(s) && n >= -2147483648 && n <= 2147483647 ? n : undefined;
  };
  for (const item of raw.split(',').map((s) => s.trim())) {
    const dash = item.indexOf('-', 1);
    if (dash < 0) {
      const n = int32(item);
      if (n === undefined) throw new Error(`invalid partition limitation: ${item}`);
      partitions.push(n);
      continue;
    }
    const from = int32(item.slice(0, dash).trim());
    const to = int32(item.slice(dash + 1).trim());
    // A range is expanded in memory, so an absurd one is refused rather than allocated.
    if (from === undefined || to === undefined || from > to || to - from > maxRangeSize) throw new Error(`invalid partition limitation range: ${item}`);
    for (let p = from; p <= to; p++) partitions.push(p);
  }
  return partitions;
}
