/** Runs synchronous work as a promise, so that a throw becomes a rejection instead of escaping the caller. */
export function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
