import { describe, expect, it } from 'vitest';
import { apiserverRelayArgs, kubernetesEndpoints, kubernetesEndpointSlice } from './node-apiserver.js';

describe('the kubernetes Service for pods', () => {
  it('relays from the node IP to the apiserver on loopback, same port', () => {
    expect(apiserverRelayArgs('10.245.7.1', 35000)).toEqual(['TCP-LISTEN:35000,bind=10.245.7.1,reuseaddr,fork', 'TCP:127.0.0.1:35000']);
  });

  it('points the Endpoints and the EndpointSlice kube-proxy reads at the relay, under the Service port name', () => {
    const endpoints = kubernetesEndpoints('10.245.7.1', 35000);
    expect(endpoints.subsets).toEqual([{ addresses: [{ ip: '10.245.7.1' }], ports: [{ name: 'https', port: 35000, protocol: 'TCP' }] }]);
    const slice = kubernetesEndpointSlice('10.245.7.1', 35000);
    expect(slice.metadata?.labels?.['kubernetes.io/service-name']).toBe('kubernetes');
    expect(slice.metadata?.labels?.['endpointslice.kubernetes.io/managed-by']).toMatch(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/);
    expect(slice.endpoints).toEqual([{ addresses: ['10.245.7.1'], conditions: { ready: true } }]);
    expect(slice.ports).toEqual([{ name: 'https', port: 35000, protocol: 'TCP' }]);
  });
});
