import { describe, expect, it } from 'vitest';
import { KubeApiError, apiStatusCode, apiStatusReason, describeApiError, isAlreadyExists, isConflict, isGone, isNotFound } from './errors.js';

const apiError = (code: number, reason: string, message: string) =>
  KubeApiError.fromResponse('GET', '/api/v1/x', code, { kind: 'Status', code, reason, message }, '');

describe('API error helpers', () => {
  it.each([
    ['KubeApiError 404', apiError(404, 'NotFound', 'configmaps "x" not found'), 404, 'NotFound'],
    ['KubeApiError 409 AlreadyExists', apiError(409, 'AlreadyExists', 'leases "l" already exists'), 409, 'AlreadyExists'],
    ['watch error with statusCode', Object.assign(new Error('Gone'), { statusCode: 410 }), 410, undefined],
    ['watch ERROR event Status', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }, 410, 'Expired'],
    ['network error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), undefined, undefined],
    ['not an object', 'boom', undefined, undefined],
  ])('reads code and reason from %s', (_name, error, code, reason) => {
    expect(apiStatusCode(error)).toBe(code);
    expect(apiStatusReason(error)).toBe(reason);
  });

  it('classifies by status and reason', () => {
    const exists = apiError(409, 'AlreadyExists', 'exists');
    const stale = apiError(409, 'Conflict', 'the object has been modified');
    expect([isConflict(exists), isAlreadyExists(exists)]).toEqual([true, true]);
    expect([isConflict(stale), isAlreadyExists(stale)]).toEqual([true, false]);
    expect(isNotFound(KubeApiError.fromResponse('GET', '/api/v1/x', 404, undefined, ''))).toBe(true);
    expect(isGone({ code: 410 })).toBe(true);
    expect(isGone(new Error('x'))).toBe(false);
  });

  it('names the call, status, reason and server message, or the first of the body when it is not a Status', () => {
    expect(apiError(403, 'Forbidden', 'leases is forbidden').message).toBe('GET /api/v1/x: 403 Forbidden: leases is forbidden');
    expect(KubeApiError.fromResponse('PUT', '/p', 502, '<html>bad gateway</html>', '<html>bad gateway</html>').message).toBe(
      'PUT /p: 502: <html>bad gateway</html>',
    );
    expect(KubeApiError.fromResponse('GET', '/p', 503, undefined, '').message).toBe('GET /p: 503: HTTP 503');
  });

  it('describes an error with its status, reason and the server message', () => {
    const error = apiError(403, 'Forbidden', 'leases is forbidden: User "x" cannot get');
    expect(describeApiError(error)).toBe('403 Forbidden leases is forbidden: User "x" cannot get');
    expect(describeApiError(new Error('socket hang up'))).toBe('socket hang up');
  });
});
