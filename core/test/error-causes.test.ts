import { describe, expect, it } from 'vitest';
import { errorCauses, GtaError } from '../src/index.js';

describe('errorCauses', () => {
  it('lists the messages of the cause chain, nearest first', () => {
    const driver = new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const error = new GtaError('GTA_STORAGE_ERROR', 'claim failed', {
      cause: new Error('pool', { cause: driver }),
    });
    expect(errorCauses(error)).toEqual(['pool', 'connect ECONNREFUSED 127.0.0.1:5432']);
  });

  it('renders a cause that is not an Error, and gives nothing for an error without a cause', () => {
    expect(errorCauses(new Error('outer', { cause: 'a string' }))).toEqual(['non-Error thrown: a string']);
    expect(errorCauses(new Error('alone'))).toEqual([]);
    expect(errorCauses('not even an error')).toEqual([]);
    expect(errorCauses(null)).toEqual([]);
  });

  it('lists the errors of an AggregateError, and survives causes that resist being read', () => {
    const refused = new AggregateError(
      [new Error('connect ECONNREFUSED ::1:5432'), new Error('connect ECONNREFUSED 127.0.0.1:5432')],
      '',
    );
    expect(errorCauses(new Error('claim failed', { cause: refused }))).toEqual([
      'AggregateError; connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432',
    ]);
    expect(errorCauses(new Error('outer', { cause: Object.create(null) }))).toEqual(['non-Error thrown: {}']);
    const hostile = Object.defineProperty(new Error('outer'), 'cause', {
      get() {
        throw new Error('no');
      },
    });
    expect(errorCauses(hostile)).toEqual([]);
  });

  it('stops after five causes, so a cycle cannot loop forever', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(errorCauses(a)).toEqual(['b', 'a', 'b', 'a', 'b']);
  });
});
