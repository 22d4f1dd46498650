import type { Closeable, PooledConnection } from '../../scalers/connection-pool.js';
import { ConnectionPool } from '../../scalers/connection-pool.js';
import { createScaler } from '../../scalers/registry.js';
import type { ScalerContext } from '../../scalers/scaler.js';
import { FakeClock } from '../../src/controller/fake-clock.js';
import { testDeps, testEpochMs } from '../../scalers/testing.js';

/** A real pool that counts the requests it lets through to servers: one `use` is one request. */
export class CountingConnectionPool extends ConnectionPool {
  requests = 0;
  override acquire<C extends Closeable>(key: string, label: string, open: () => C, hidden: readonly string[] = []): PooledConnection<C> {
    const lease = super.acquire(key, label, open, hidden);
    return {
      ...lease,
      use: (timeoutMs, request, signal) => {
        this.requests++;
        return lease.use(timeoutMs, request, signal);
      },
    };
  }
}

export interface ReadsPerInterval {
  readonly scaledObjects: number;
  readonly intervals: number;
  /** Requests that reached the server per polling interval. */
  readonly requestsPerInterval: number;
  readonly connections: number;
  readonly values: readonly number[];
}

/**
 * `count` scalers (one per ScaledObject) on one source, each polled once per interval as the operator polls:
 * all read at the same moment with the interval as the max age. Returns how many requests reached the server.
 */
export async function measureReadsPerInterval(
  contexts: (index: number) => ScalerContext,
  count = 100,
  intervals = 3,
  intervalMs = 30_000,
): Promise<ReadsPerInterval> {
  const clock = new FakeClock(testEpochMs);
  const connections = new CountingConnectionPool({ clock });
  const deps = testDeps(clock, { connections });
  const scalers = Array.from({ length: count }, (_, i) => createScaler(contexts(i), deps));
  const values: number[] = [];
  let openConnections = 0;
  try {
    for (let interval = 0; interval < intervals; interval++) {
      const readings = await Promise.all(
        scalers.map((s) => s.read(s.metricSpecs[0]?.kind === 'External' ? s.metricSpecs[0].metricName : '', { maxAgeMs: intervalMs })),
      );
      values.push(...new Set(readings.map((r) => r.value)));
      openConnections = connections.size;
      await clock.advance(intervalMs + 1);
    }
  } finally {
    await Promise.all(scalers.map((s) => s.close()));
  }
  return { scaledObjects: count, intervals, requestsPerInterval: connections.requests / intervals, connections: openConnections, values };
}
