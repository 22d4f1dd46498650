import { describe, expect, it } from 'vitest';
import { routeRequest, type Route } from './routes.js';

const v = '/apis/external.metrics.k8s.io/v1beta1';

describe('routeRequest', () => {
  it.each<[string, string, Route]>([
    ['GET', '/healthz', { kind: 'health', check: 'healthz' }],
    ['GET', '/readyz?verbose', { kind: 'health', check: 'readyz' }],
    ['HEAD', '/livez', { kind: 'health', check: 'livez' }],
    ['GET', '/apis', { kind: 'discovery', document: 'groups' }],
    ['GET', '/apis/', { kind: 'discovery', document: 'groups' }],
    ['GET', '/apis/external.metrics.k8s.io', { kind: 'discovery', document: 'group' }],
    ['GET', v, { kind: 'discovery', document: 'resources' }],
    ['GET', '/openapi/v2', { kind: 'openapi', document: 'v2' }],
    ['GET', '/openapi/v3', { kind: 'openapi', document: 'v3' }],
    ['GET', `/openapi/v3${v}?hash=abc`, { kind: 'openapi', document: 'v3-group-version' }],
    [
      'GET',
      `${v}/namespaces/default/s0-redis-mylist?labelSelector=scaledobject.keda.sh%2Fname%3Dorders`,
      { kind: 'metric', namespace: 'default', metricName: 's0-redis-mylist', labelSelector: 'scaledobject.keda.sh/name=orders' },
    ],
    [
      'GET',
      `${v}/namespaces/default/s0-cron-Etc-UTC-00xxThu`,
      { kind: 'metric', namespace: 'default', metricName: 's0-cron-Etc-UTC-00xxThu', labelSelector: undefined },
    ],
    ['GET', `${v}/namespaces/Bad_NS/m?labelSelector=a%3Db`, { kind: 'invalid', message: 'namespace "Bad_NS" is not a valid namespace name' }],
    ['GET', `${v}/namespaces/default/%E0%A4%A`, { kind: 'invalid', message: 'path segments "default/%E0%A4%A" are not valid percent-encoding' }],
    ['GET', `${v}/namespaces/default`, { kind: 'not-found', path: `${v}/namespaces/default` }],
    ['GET', `${v}/namespaces/default/m/extra`, { kind: 'not-found', path: `${v}/namespaces/default/m/extra` }],
    ['GET', '/apis/custom.metrics.k8s.io/v1beta1', { kind: 'not-found', path: '/apis/custom.metrics.k8s.io/v1beta1' }],
    ['POST', `${v}/namespaces/default/m`, { kind: 'method-not-allowed', method: 'POST' }],
    ['DELETE', '/healthz', { kind: 'method-not-allowed', method: 'DELETE' }],
  ])('%s %s', (method, url, expected) => {
    expect(routeRequest(method, url)).toEqual(expected);
  });

  // The selector is read without URLSearchParams on the common path; it must still agree with it everywhere.
  it.each([
    'labelSelector=scaledobject.keda.sh%2Fname%3Dorders',
    'labelSelector=scaledobject.keda.sh/name=orders',
    'labelSelector=a+%3D+b',
    'labelSelector=a%2Bb',
    'labelSelector=',
    'labelSelector',
    'watch=true&labelSelector=a%3Db&labelSelector=a%3Dc',
    '&&labelSelector=a%3Db&',
    'label%53elector=a%3Db',
    'labelSelector=a%3Db&label%53elector=a%3Dc',
    'labelSelector=100%25',
    'labelSelector=bad%zz%3Dx',
    'labelSelector=%E0%A4%A',
    'labelSelector=%C3%A9t%C3%A9%3D1',
    'labelselector=a%3Db',
    'other=1',
    '',
  ])('reads labelSelector from %j as URLSearchParams does', (query) => {
    const route = routeRequest('GET', `${v}/namespaces/default/m?${query}`);
    expect(route).toEqual({
      kind: 'metric',
      namespace: 'default',
      metricName: 'm',
      labelSelector: new URLSearchParams(query).get('labelSelector') ?? undefined,
    });
  });

  it('reads absolute-form targets through the URL parser', () => {
    expect(routeRequest('GET', `https://example.com${v}/namespaces/default/m?labelSelector=a%3Db`)).toEqual({
      kind: 'metric',
      namespace: 'default',
      metricName: 'm',
      labelSelector: 'a=b',
    });
  });
});
