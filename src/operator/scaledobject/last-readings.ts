export interface Reading {
  value: number;
  active: boolean;
  /** Epoch milliseconds of the read. */
  at: number;
}

/**
 * The last value the scale loop read for every metric, kept for the metrics API (useCachedMetrics answers
 * from here instead of asking the source again). One entry per metric; dropped with the ScaledObject.
 */
export class LastReadings {
  private readonly byObject = new Map<string, Map<string, Reading>>();

  record(objectKey: string, metricName: string, value: number, active: boolean, at: number): void {
    let metrics = this.byObject.get(objectKey);
    if (!metrics) this.byObject.set(objectKey, (metrics = new Map<string, Reading>()));
    metrics.set(metricName, { value, active, at });
  }

  get(objectKey: string, metricName: string): Reading | undefined {
    return this.byObject.get(objectKey)?.get(metricName);
  }

  forget(objectKey: string): void {
    this.byObject.delete(objectKey);
  }
}
