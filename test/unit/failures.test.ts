import { describePermanentFailure, isOutage, isTransientFailure } from '../../src/domain/failures';

const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { code });

describe('isTransientFailure', () => {
  it.each([
    ['serialization failure', pgError('40001')],
    ['deadlock', pgError('40P01')],
    ['statement timeout', pgError('57014')],
    ['server shutting down', pgError('57P01')],
    ['connection failure class 08', pgError('08006')],
    ['too many connections (class 53)', pgError('53300')],
    ['refused TCP connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['knex pool timeout', Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' })],
    ['pg dropped connection', new Error('Connection terminated unexpectedly')],
    ['Temporal unavailable', Object.assign(new Error('14 UNAVAILABLE'), { name: 'ServiceError', code: 14 })],
    ['wrapped cause', new Error('outer', { cause: pgError('40001') })],
    ['gRPC deadline under a ServiceError', Object.assign(new Error('deadline'), { name: 'ServiceError', cause: Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4, details: 'Deadline exceeded', metadata: {} }) })],
    // What the client throws for an update while the workflow's task fails (its worker lost PostgreSQL).
    ['update refused while the workflow task is failing', Object.assign(new Error('Workflow Update failed'), { name: 'ServiceError', cause: Object.assign(new Error('9 FAILED_PRECONDITION: Unable to perform workflow execution update due to Workflow Task in failed state.'), { code: 9, details: 'Unable to perform workflow execution update due to Workflow Task in failed state.', metadata: {} }) })],
    ['update RPC timeout', Object.assign(new Error('timed out'), { name: 'WorkflowUpdateRPCTimeoutOrCancelledError' })],
    ['aggregate of refused connections', new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })])],
  ])('retries a %s', (_what, err) => expect(isTransientFailure(err)).toBe(true));

  it.each([
    ['TypeError (reading a field of null)', new TypeError("Cannot read properties of null (reading 'requestId')")],
    ['invalid uuid syntax', pgError('22P02')],
    ['check constraint', pgError('23514')],
    ['undefined column', pgError('42703')],
    ['Temporal invalid argument', Object.assign(new Error('3 INVALID_ARGUMENT'), { name: 'ServiceError', code: 3 })],
    ['another failed precondition', Object.assign(new Error('Workflow Update failed'), { name: 'ServiceError', cause: Object.assign(new Error('9 FAILED_PRECONDITION: workflow update is disabled'), { code: 9, details: 'workflow update is disabled', metadata: {} }) })],
    ['a thrown string', 'boom'],
    ['null', null],
  ])('does not retry a %s', (_what, err) => expect(isTransientFailure(err)).toBe(false));
});

describe('describePermanentFailure', () => {
  it('names the class and code, never the message', () => {
    const err = Object.assign(new Error('invalid input syntax for type uuid: "Ada Lovelace"'), { code: '22P02' });
    expect(describePermanentFailure(err)).toBe('Error 22P02');
    expect(describePermanentFailure(new TypeError('Cannot read properties of null (reading "Ada")'))).toBe('TypeError');
    expect(describePermanentFailure(undefined)).toBe('non-error thrown (undefined)');
  });
});

describe('isOutage', () => {
  it('is a 503 for the database or Temporal unreachable, not for a conflict or a bug', () => {
    expect(isOutage(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isOutage(Object.assign(new Error('x'), { name: 'KnexTimeoutError' }))).toBe(true);
    expect(isOutage(pgError('23505'))).toBe(false);
    expect(isOutage(new TypeError('x'))).toBe(false);
  });
});
