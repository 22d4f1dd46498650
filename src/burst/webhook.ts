/** Where the webhook server serves the pod mutator, and how the MutatingWebhookConfiguration names it. */
export const burstPodWebhookPath = '/mutate-v1-pod-burst';
export const burstPodWebhookName = 'mpod-burst.swell.dev';
