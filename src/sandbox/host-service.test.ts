import { describe, expect, it } from 'vitest';
import { hostServiceObjects } from './host-service.js';

describe('a sandbox server offered to pods', () => {
  it('is a selector-less Service whose Endpoints name the relay on the node IP, under the same port name', () => {
    const { service, endpoints } = hostServiceObjects('redis', '10.245.7.1', 37195, 6379);
    expect(service.spec?.selector).toBeUndefined();
    expect(service.spec?.ports).toEqual([{ name: 'tcp', port: 6379, targetPort: 37195, protocol: 'TCP' }]);
    expect(endpoints.metadata?.name).toBe(service.metadata?.name);
    expect(endpoints.subsets).toEqual([{ addresses: [{ ip: '10.245.7.1' }], ports: [{ name: 'tcp', port: 37195, protocol: 'TCP' }] }]);
  });
});
