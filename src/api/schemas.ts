import { z } from 'zod';
import { checkDurationBounds } from '../domain/duration';
import { checkWebhookUrlSyntax } from '../domain/urlSafety';

// Request schemas: the route parses with these, types come from them (z.infer).
// `.strict()` everywhere: an unknown field is a client bug worth a 400, not silence.

/** How a duration looks, for the OpenAPI document (the bounds are checked by the transform). */
const durationSyntax = { pattern: '^(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?$', minLength: 1, examples: ['1d', '12h', '1d12h30m'] };

export const durationField = (bounds: { min: string; max: string }) =>
  z.string().meta({ ...durationSyntax, description: `days, hours and minutes, ${bounds.min} to ${bounds.max}` }).transform((value, ctx) => {
    const checked = checkDurationBounds(value, bounds);
    if (!checked.ok) {
      ctx.addIssue({ code: 'custom', message: checked.message });
      return z.NEVER;
    }
    return checked.canonical;
  });

export const webhookUrlField = z.string().meta({ format: 'uri', maxLength: 2048, description: 'an absolute http(s) URL of a public destination' }).superRefine((value, ctx) => {
  const checked = checkWebhookUrlSyntax(value);
  if (!checked.ok) ctx.addIssue({ code: 'custom', message: checked.message });
});

const shortText = (max = 200) => z.string().trim().min(1).max(max);
const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD').refine((v) => !Number.isNaN(Date.parse(v)), 'must be a real date');

export const LINK_EXPIRY_MAX = '60d';
export const DATA_RETENTION_MAX = '3650d';

export const createSessionSchema = (linkExpiryMin: string) =>
  z
    .object({
      journeyId: shortText().optional(),
      correlationId: shortText().optional(),
      redirectUrl: z.string().max(2048).url().refine((u) => /^https?:/i.test(u), 'must be an http(s) URL').optional(),
      userInput: z
        .object({ firstName: shortText().optional(), lastName: shortText().optional(), birthDate: isoDate.optional() })
        .strict()
        .optional(),
      entity: z.object({ type: z.enum(['person', 'company']) }).strict().optional(),
      linkExpiry: durationField({ min: linkExpiryMin, max: LINK_EXPIRY_MAX }).optional(),
    })
    .strict();
export type CreateSessionBody = z.infer<ReturnType<typeof createSessionSchema>>;

export const uploadDocumentSchema = z
  .object({
    type: shortText(100),
    fileName: shortText(255),
    contentType: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, 'must be a media type like image/jpeg'),
    contentBase64: z.string().min(1).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64'),
  })
  .strict();

export const analysisStatusAi = z.enum(['ai_approved', 'ai_rejected', 'verify']);

export const createAnalysisSchema = z
  .object({
    documentId: z.uuid().optional(),
    kind: shortText(100),
    status: analysisStatusAi,
    result: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export const settingsPatchSchema = (retentionMin: string, linkExpiryMin: string) =>
  z
    .object({
      sessionEndWebhookUrl: webhookUrlField.nullable().optional(),
      decisionWebhookUrl: webhookUrlField.nullable().optional(),
      dataRetention: durationField({ min: retentionMin, max: DATA_RETENTION_MAX }).nullable().optional(),
      sessionLinkExpiry: durationField({ min: linkExpiryMin, max: LINK_EXPIRY_MAX }).optional(),
    })
    .strict();

/** `dataRetention` as a query value: a duration within the PATCH bounds, or the literal null. */
export const retentionPreviewQuery = (retentionMin: string) =>
  z
    .object({
      dataRetention: z.string({ error: 'is required: a duration like 30d, or null' }).meta({ pattern: '^(?:null|(?:\\d+d)?(?:\\d+h)?(?:\\d+m)?)$', minLength: 1, examples: ['30d', 'null'], description: `a duration (${retentionMin} to 3650d) or the word null` }).transform((value, ctx) => {
        if (value === 'null') return null;
        const checked = checkDurationBounds(value, { min: retentionMin, max: DATA_RETENTION_MAX });
        if (!checked.ok) {
          ctx.addIssue({ code: 'custom', message: `${checked.message}, or null` });
          return z.NEVER;
        }
        return checked.canonical;
      }),
      days: z.coerce.number().int().min(1).max(366).default(30),
    })
    .strict();

export const idParam = z.object({ id: z.uuid({ message: 'must be a UUID' }) });

export const paginationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(500).optional(),
});

export const listSessionsQuery = paginationQuery
  .extend({
    status: z.enum(['pending', 'created', 'in_progress', 'completed', 'expired', 'purged']).optional(),
    verdict: z.enum(['ai_approved', 'ai_rejected', 'verify', 'user_approved', 'user_rejected']).optional(),
    correlationId: z.string().max(200).optional(),
  })
  .strict();

const userInputSchema = z
  .object({ firstName: shortText().optional(), lastName: shortText().optional(), birthDate: isoDate.optional() })
  .strict();

export const createStandaloneAnalysisSchema = z
  .object({
    entityId: z.uuid().optional(),
    entity: z.object({ type: z.enum(['person', 'company']), userInput: userInputSchema.optional() }).strict().optional(),
    correlationId: shortText().optional(),
    kind: shortText(100),
    status: analysisStatusAi,
    result: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((b) => !(b.entityId && b.entity), { message: 'give entityId or entity, not both', path: ['entity'] });
export type CreateStandaloneAnalysisBody = z.infer<typeof createStandaloneAnalysisSchema>;

export const decisionSchema = z
  .object({
    newStatus: z.enum(['user_approved', 'user_rejected']),
    comment: z.string().trim().min(1).max(5000).optional(),
  })
  .strict();

export const listAnalysesQuery = paginationQuery
  .extend({
    status: z.enum(['ai_approved', 'ai_rejected', 'verify', 'user_approved', 'user_rejected', 'purged']).optional(),
    sessionId: z.uuid({ message: 'must be a UUID' }).optional(),
    correlationId: z.string().max(200).optional(),
  })
  .strict();
