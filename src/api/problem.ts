import type { ZodError } from 'zod';

// RFC 9457 problem details. Every error response goes through this class, so a client sees
// one shape whatever failed; `errors` names the fields a validation failure is about.
export interface FieldError {
  path: string;
  message: string;
}

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: FieldError[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
  }

  toJSON(instance?: string): Record<string, unknown> {
    return {
      type: `/problems/${this.slug}`,
      title: this.title,
      status: this.status,
      ...(this.detail ? { detail: this.detail } : {}),
      ...(instance ? { instance } : {}),
      ...(this.errors ? { errors: this.errors } : {}),
    };
  }
}

export const problems = {
  validation: (errors: FieldError[], detail = 'the request is not valid') =>
    new HttpProblem(400, 'validation-error', 'Invalid request', detail, errors),
  malformedJson: () => new HttpProblem(400, 'malformed-json', 'Malformed JSON', 'the request body is not valid JSON'),
  unauthorized: (detail = 'send Authorization: Bearer <token>') =>
    new HttpProblem(401, 'unauthorized', 'Unauthorized', detail, undefined, { 'WWW-Authenticate': 'Bearer' }),
  forbidden: (detail = 'your role does not allow this') => new HttpProblem(403, 'forbidden', 'Forbidden', detail),
  notFound: (what = 'resource') => new HttpProblem(404, 'not-found', 'Not found', `${what} not found`),
  methodNotAllowed: (allowed: string[]) =>
    new HttpProblem(405, 'method-not-allowed', 'Method not allowed', `allowed: ${allowed.join(', ')}`, undefined, {
      Allow: allowed.join(', '),
    }),
  conflict: (detail: string) => new HttpProblem(409, 'conflict', 'Conflict', detail),
  gone: (detail: string) => new HttpProblem(410, 'gone', 'Gone', detail),
  tooLarge: (detail: string) => new HttpProblem(413, 'payload-too-large', 'Payload too large', detail),
  unsupportedMediaType: () =>
    new HttpProblem(415, 'unsupported-media-type', 'Unsupported media type', 'send Content-Type: application/json'),
  idempotencyMismatch: () =>
    new HttpProblem(
      422,
      'idempotency-key-reused',
      'Idempotency key reused',
      'this Idempotency-Key was used with a different request body',
    ),
  unavailable: (detail: string) => new HttpProblem(503, 'unavailable', 'Service unavailable', detail),
};

export function zodProblem(error: ZodError, prefix: (string | number)[] = []): HttpProblem {
  const errors: FieldError[] = [];
  for (const issue of error.issues) {
    const base = [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.push({ path: [...base, key].join('.'), message: 'unknown field' });
    } else {
      errors.push({ path: base.join('.') || '(body)', message: issue.message });
    }
  }
  const named = [...new Set(errors.map((e) => e.path))].join(', ');
  return problems.validation(errors, `invalid field(s): ${named}`);
}
