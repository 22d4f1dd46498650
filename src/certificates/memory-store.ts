import type { ServingBundle } from './bundle.js';
import type { BundleStore } from './managed.js';

/**
 * A store held in this process only, with the Secret's optimistic concurrency: for tests and for a webhook
 * server started on its own, whose CA nobody else needs to share.
 */
export function memoryBundleStore(initial?: ServingBundle): BundleStore {
  let state: { bundle: ServingBundle; version: number } | undefined = initial ? { bundle: initial, version: 1 } : undefined;
  return {
    read: () => Promise.resolve(state ? { bundle: state.bundle, version: String(state.version) } : undefined),
    create(bundle) {
      if (state) return Promise.resolve(false);
      state = { bundle, version: 1 };
      return Promise.resolve(true);
    },
    replace(bundle, version) {
      if (!state || String(state.version) !== version) return Promise.resolve(false);
      state = { bundle, version: state.version + 1 };
      return Promise.resolve(true);
    },
  };
}
