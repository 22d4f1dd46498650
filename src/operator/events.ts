import type { Logger } from '../log.js';
import { describeApiError, isForbidden, isNotFound } from '../kube/errors.js';
import { EventFilter } from './event-filter.js';
import { resourcePath, type KubeClient } from '../kube/client.js';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /** Fire and forget: an event that cannot be written is logged, never fails the caller. */
  emit(object: InvolvedObject, type: EventType, reason: string, message: string): void;
}

interface Recorded {
  name: string;
  count: number;
}

/**
 * Writes core/v1 Events like client-go's recorder: a repeat of the same reason and message on the same object
 * bumps the count of the existing Event instead of creating a new one. Memory is bounded (oldest forgotten).
 * What reaches the apiserver passes the filter first (see EventFilter), so a failure repeated on every poll
 * is written once per window, not once per poll.
 */
export class KubeEventRecorder implements EventRecorder {
  private readonly recent = new Map<string, Recorded>();
  private readonly filter: EventFilter;

  constructor(
    private readonly client: KubeClient,
    private readonly deps: { log: Logger; now: () => number; component: string; host?: string; maxRemembered?: number; filter?: EventFilter },
  ) {
    this.filter = deps.filter ?? new EventFilter();
  }

  emit(object: InvolvedObject, type: EventType, reason: string, message: string): void {
    const verdict = this.filter.admit(object.uid ?? `${object.kind}/${object.namespace}/${object.name}`, `${type}|${reason}|${message}`, this.deps.now());
    if (verdict !== 'write') {
      this.deps.log.debug({ reason, object: `${object.namespace}/${object.name}`, verdict }, 'event not written');
      return;
    }
    this.write(object, type, reason, message).catch((err: unknown) => {
      // A namespace being deleted refuses new events; that is expected while its objects are finalized.
      const level = isForbidden(err) ? 'debug' : 'warn';
      this.deps.log[level]({ err: describeApiError(err), reason, object: `${object.namespace}/${object.name}` }, 'could not record event');
    });
  }

  private async write(object: InvolvedObject, type: EventType, reason: string, message: string): Promise<void> {
    const key = `${object.uid ?? `${object.namespace}/${object.name}`}|${type}|${reason}|${message}`;
    const now = new Date(this.deps.now()).toISOString();
    const seen = this.recent.get(key);
    if (seen) {
      seen.count += 1;
      try {
        await this.client.request('PATCH', resourcePath({ group: '', version: 'v1', resource: 'events', namespace: object.namespace, name: seen.name }), {
          body: { count: seen.count, lastTimestamp: now },
          contentType: 'application/merge-patch+json',
        });
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.recent.delete(key);
      }
    }
    const created = await this.client.request<{ metadata: { name: string } }>(
      'POST',
      resourcePath({ group: '', version: 'v1', resource: 'events', namespace: object.namespace }),
      {
        body: {
          apiVersion: 'v1',
          kind: 'Event',
          metadata: { generateName: `${object.name}.`, namespace: object.namespace },
          involvedObject: object,
          reason,
          message,
          type,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: this.deps.component, ...(this.deps.host ? { host: this.deps.host } : {}) },
          reportingComponent: this.deps.component,
        },
      },
    );
    this.remember(key, { name: created.metadata.name, count: 1 });
  }

  private remember(key: string, recorded: Recorded): void {
    this.recent.set(key, recorded);
    if (this.recent.size > (this.deps.maxRemembered ?? 4096)) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }
}
