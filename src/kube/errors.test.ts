import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { apiStatusCode, apiStatusReason, describeApiError, isAlreadyExists, isConflict, isGone, isNotFound } from './errors.js';

const status = (code: number, reason: string, message: string) => JSON.stringify({ kind: 'Status', code, reason, message });

describe('API error helpers', () => {
  it.each([
    ['ApiException 404', new ApiException(404, 'not found', status(404, 'NotFound', 'configmaps "x" not found'), {}), 404, 'NotFound'],
    ['ApiException 409 AlreadyExists', new ApiException(409, 'conflict', status(409, 'AlreadyExists', 'leases "l" already exists'), {}), 409, 'AlreadyExists'],
    ['watch error with statusCode', Object.assign(new Error('Gone'), { statusCode: 410 }), 410, undefined],
    ['watch ERROR event Status', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }, 410, 'Expired'],
    ['network error', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), undefined, undefined],
    ['not an object', 'boom', undefined, undefined],
  ])('reads code and reason from %s', (_name, error, code, reason) => {
    expect(apiStatusCode(error)).toBe(code);
    expect(apiStatusReason(error)).toBe(reason);
  });

  it('classifies by status and reason', () => {
    const exists = new ApiException(409, 'conflict', status(409, 'AlreadyExists', 'exists'), {});
    const stale = new ApiException(409, 'conflict', status(409, 'Conflict', 'the object has been modified'), {});
    expect([isConflict(exists), isAlreadyExists(exists)]).toEqual([true, true]);
    expect([isConflict(stale), isAlreadyExists(stale)]).toEqual([true, false]);
    expect(isNotFound(new ApiException(404, '', '', {}))).toBe(true);
    expect(isGone({ code: 410 })).toBe(true);
    expect(isGone(new Error('x'))).toBe(false);
  });

  it('describes an error with its status, reason and the server message', () => {
    const error = new ApiException(403, 'HTTP-Code: 403', status(403, 'Forbidden', 'leases is forbidden: User "x" cannot get'), {});
    expect(describeApiError(error)).toBe('403 Forbidden leases is forbidden: User "x" cannot get');
    expect(describeApiError(new Error('socket hang up'))).toBe('socket hang up');
  });
});
