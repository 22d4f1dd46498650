import { ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';

/** Request options that make a generated `patch*` call send the given patch type instead of JSON Patch. */
export const strategicMerge = () => setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
export const mergePatch = () => setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of a failed API call, or undefined for other errors (network, TLS...). */
export function statusCode(error: unknown): number | undefined {
  return error instanceof ApiException ? (error as ApiException<unknown>).code : undefined;
}
