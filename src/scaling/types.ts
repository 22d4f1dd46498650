/** A status condition as KEDA stores it (no timestamps). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/** A Kubernetes Event the operator should record on the scaled object. */
export interface ScalingEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}
