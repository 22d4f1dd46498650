import type { ScaledObject } from '../../apis/keda/v1alpha1/scaledobject.js';
import { resourcePath } from '../../kube/client.js';

export function scaledObjectPath(so: ScaledObject, subresource?: 'status'): string {
  return resourcePath({
    group: 'keda.sh',
    version: 'v1alpha1',
    resource: 'scaledobjects',
    namespace: so.metadata.namespace ?? '',
    name: so.metadata.name ?? '',
    ...(subresource ? { subresource } : {}),
  });
}

export function involved(so: ScaledObject): { apiVersion: string; kind: string; namespace: string; name: string; uid?: string } {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    namespace: so.metadata.namespace ?? '',
    name: so.metadata.name ?? '',
    ...(so.metadata.uid ? { uid: so.metadata.uid } : {}),
  };
}
