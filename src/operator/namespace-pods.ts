import type { V1Pod } from '@kubernetes/client-node';
import { Informer } from '../controller/informer.js';
import type { ListWatchSource } from '../controller/list-watch-source.js';
import type { Logger } from '../log.js';
import type { NamespacePods, PodSource } from '../../scalers/pod-source.js';

interface Watched {
  readonly informer: Informer<V1Pod>;
  refs: number;
}

/**
 * One pod informer per namespace, started by the first kubernetes-workload trigger there and stopped when
 * the last one closes: every ScaledObject in a namespace counts pods from the same cache, and a poll never
 * lists pods from the apiserver.
 */
export class NamespacePodInformers implements PodSource {
  readonly #watched = new Map<string, Watched>();

  constructor(
    private readonly options: {
      listWatch: (path: string) => ListWatchSource<V1Pod>;
      log: Logger;
    },
  ) {}

  watch(namespace: string): NamespacePods {
    let entry = this.#watched.get(namespace);
    if (!entry) {
      const informer = new Informer<V1Pod>({
        name: `pods/${namespace}`,
        source: this.options.listWatch(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`),
        log: this.options.log,
        // Counting needs no periodic re-delivery; nobody handles the informer's events.
        resyncPeriodMs: 0,
      });
      informer.start();
      entry = { informer, refs: 0 };
      this.#watched.set(namespace, entry);
    }
    entry.refs++;
    const held = entry;
    let released = false;
    return {
      synced: () => held.informer.synced(),
      list: () => held.informer.list(),
      release: async () => {
        if (released) return;
        released = true;
        if (--held.refs > 0) return;
        if (this.#watched.get(namespace) === held) this.#watched.delete(namespace);
        await held.informer.stop();
      },
    };
  }

  /** Namespaces with a running informer, for tests and the operator's own metrics. */
  get size(): number {
    return this.#watched.size;
  }

  async stopAll(): Promise<void> {
    const entries = [...this.#watched.values()];
    this.#watched.clear();
    await Promise.all(entries.map((e) => e.informer.stop()));
  }
}
