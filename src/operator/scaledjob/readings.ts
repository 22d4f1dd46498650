import type { MetricTargetType } from '../../../scalers/scaler.js';
import { targetAverageValue, type TriggerQueue } from '../../scaling/scaledjob.js';

/** One metric of one trigger as read on a poll. */
export interface MetricRead {
  triggerIndex: number;
  metricName: string;
  targetType: MetricTargetType;
  target: number;
  value?: number;
  active: boolean;
  error?: string;
}

export interface TriggerQueues {
  /** One per trigger that read without error, in trigger order. */
  queues: TriggerQueue[];
  /** Some trigger failed; it then contributes nothing to this poll (KEDA skips it). */
  isError: boolean;
}

/**
 * Groups a poll's metric reads per trigger the way KEDA's ScaledJob does: the queue length is the sum of the
 * trigger's values, the target the mean of its AverageValue targets (a Value target counts as 0, which makes
 * the trigger ask for no Jobs), and the trigger is active when any of its metrics is.
 */
export function triggerQueues(reads: readonly MetricRead[]): TriggerQueues {
  const byTrigger = new Map<number, MetricRead[]>();
  for (const read of reads) byTrigger.set(read.triggerIndex, [...(byTrigger.get(read.triggerIndex) ?? []), read]);
  const queues: TriggerQueue[] = [];
  let isError = false;
  for (const index of [...byTrigger.keys()].sort((a, b) => a - b)) {
    const metrics = byTrigger.get(index) ?? [];
    if (metrics.some((m) => m.error !== undefined)) {
      isError = true;
      continue;
    }
    queues.push({
      queueLength: metrics.reduce((sum, m) => sum + (m.value ?? 0), 0),
      targetAverageValue: targetAverageValue(metrics.map((m) => (m.targetType === 'AverageValue' ? m.target : undefined))),
      active: metrics.some((m) => m.active),
    });
  }
  return { queues, isError };
}
