import type { JsonPatchOperation } from '../kube/patch.js';

/*
 * admission.k8s.io/v1 AdmissionReview, reduced to the fields swell reads and writes. Handlers see only the request
 * and return a verdict; the server turns the verdict into the response document.
 */

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  userInfo?: { username?: string; groups?: string[] };
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export type AdmissionVerdict =
  | { allowed: true; patch?: JsonPatchOperation[]; warnings?: string[] }
  | { allowed: false; message: string; reason?: string; code?: number; warnings?: string[] };

export type AdmissionHandler = (request: AdmissionRequest) => Promise<AdmissionVerdict>;

export interface AdmissionReviewResponse {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: {
    uid: string;
    allowed: boolean;
    status?: { code: number; message: string; reason?: string };
    patchType?: 'JSONPatch';
    patch?: string;
    warnings?: string[];
  };
}

/** Reads an AdmissionReview body; throws with a message saying what is wrong with it. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  if (typeof body !== 'object' || body === null) throw new Error('body is not a JSON object');
  const review = body as { apiVersion?: unknown; kind?: unknown; request?: unknown };
  // The values are not quoted back: a body can carry anything, of any size.
  if (review.kind !== 'AdmissionReview') throw new Error('kind must be "AdmissionReview"');
  if (review.apiVersion !== 'admission.k8s.io/v1') throw new Error('apiVersion must be "admission.k8s.io/v1"');
  const request = review.request as Partial<AdmissionRequest> | undefined;
  if (typeof request !== 'object' || request === null) throw new Error('request is missing');
  if (typeof request.uid !== 'string' || request.uid === '') throw new Error('request.uid is missing');
  if (typeof request.kind?.kind !== 'string') throw new Error('request.kind is missing');
  if (typeof request.operation !== 'string') throw new Error('request.operation is missing');
  return request as AdmissionRequest;
}

/** The response document for a verdict; an empty patch is left out (the apiserver rejects `patch: ""`). */
export function admissionResponse(uid: string, verdict: AdmissionVerdict): AdmissionReviewResponse {
  const warnings = verdict.warnings && verdict.warnings.length > 0 ? { warnings: verdict.warnings } : {};
  if (!verdict.allowed) {
    const status = { code: verdict.code ?? 403, message: verdict.message, ...(verdict.reason ? { reason: verdict.reason } : {}) };
    return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: false, status, ...warnings } };
  }
  const patch =
    verdict.patch && verdict.patch.length > 0 ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(verdict.patch)).toString('base64') } : {};
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true, ...patch, ...warnings } };
}
