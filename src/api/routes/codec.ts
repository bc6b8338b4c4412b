// Temporal's remote codec protocol for the Web UI and the `temporal` CLI (docs/operations.md):
// POST /codec/decode and /codec/encode with {"payloads":[{metadata:{k:base64}, data:base64}]}.
// Operators only; a payload of another organization's record is refused; every decode of a
// record's payloads is an access recorded in the audit ledger (one event per record and request).
import { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import { appendAuditEvent } from '../../audit/ledger';
import { EncryptionCodec, isEncrypted, keyIdOf } from '../../payloads/codec';
import { orgScope } from '../../payloads/scopes';
import type { AppDeps } from '../app';
import { auditFrom } from '../auditContext';
import { ANY_OPERATOR, principalOf, requireAuth } from '../auth';
import { problems, zodProblem } from '../problem';

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64').max(4_000_000);
export const codecPayloadsSchema = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() })).max(1000),
});
type WirePayload = z.infer<typeof codecPayloadsSchema>['payloads'][number];

const fromWire = (p: WirePayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toWire = (p: Payload): WirePayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  data: Buffer.from(p.data ?? []).toString('base64'),
});

export function codecRoutes(deps: AppDeps): Router {
  const r = Router();
  const codec = new EncryptionCodec(deps.keys);
  const allowedOrigins = new Set(deps.config.CODEC_CORS_ORIGINS);

  // The Web UI calls from the operator's browser: CORS for its origin, preflight before auth.
  r.use('/codec', (req: Request, res: Response, next: NextFunction) => {
    const origin = req.get('origin');
    if (origin && allowedOrigins.has(origin)) {
      res.set('Access-Control-Allow-Origin', origin);
      res.set('Access-Control-Allow-Credentials', 'true');
      res.set('Access-Control-Allow-Headers', 'Authorization, Content-Type, X-Namespace');
      res.set('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.set('Access-Control-Max-Age', '600');
      res.vary('Origin');
    }
    if (req.method === 'OPTIONS') {
      res.status(origin && allowedOrigins.has(origin) ? 204 : 403).end();
      return;
    }
    next();
  });

  const parse = (req: Request) => {
    const parsed = codecPayloadsSchema.safeParse(req.body);
    if (!parsed.success) throw zodProblem(parsed.error);
    const namespace = req.get('x-namespace');
    if (namespace && namespace !== deps.config.TEMPORAL_NAMESPACE) throw problems.notFound(`namespace ${namespace}`);
    return parsed.data.payloads.map(fromWire);
  };

  r.post('/codec/decode', requireAuth(deps.db, { roles: ANY_OPERATOR }), async (req, res) => {
    const payloads = parse(req);
    const { organizationId } = principalOf(res);
    const out: Payload[] = [];
    const accessed = new Map<string, { type: string; id: string; payloads: number }>();
    for (const p of payloads) {
      const keyId = keyIdOf(p);
      if (keyId === null) {
        out.push(p);
        continue;
      }
      const key = await deps.keys.describeKey(keyId);
      // Unknown keys and other organizations' keys look the same: nothing to learn from a refusal.
      if (!key || (key.organizationId !== null && key.organizationId !== organizationId)) {
        throw problems.forbidden('a payload belongs to another organization or to no known key');
      }
      if (key.destroyed) {
        out.push(p); // shown as still encrypted: the record was purged
        continue;
      }
      out.push(await codec.decodeOne(p));
      const [kind, id] = key.scope.split(':');
      if (kind === 'session' || kind === 'analysis') {
        const entry = accessed.get(key.scope) ?? { type: kind, id: id!, payloads: 0 };
        entry.payloads++;
        accessed.set(key.scope, entry);
      }
    }
    const who = auditFrom(req, res);
    for (const record of accessed.values()) {
      await appendAuditEvent(deps.db, deps.config.AUDIT_HMAC_KEY, {
        ...who,
        action: 'temporal_payload.decode',
        category: 'access',
        resource: { type: record.type, id: record.id },
        changes: { payloads: record.payloads, via: 'codec server' },
      });
    }
    res.json({ payloads: out.map(toWire) });
  });

  // The protocol carries no workflow id: what an operator encodes (a signal typed in the UI)
  // goes under the organization's key. See docs/architecture.md ("Payload encryption").
  r.post('/codec/encode', requireAuth(deps.db, { roles: ANY_OPERATOR }), async (req, res) => {
    const payloads = parse(req).filter((p) => !isEncrypted(p));
    const { organizationId } = principalOf(res);
    const key = await deps.keys.keyForScope(orgScope(organizationId));
    res.json({ payloads: (await codec.encodeWith(key, payloads)).map(toWire) });
  });
  return r;
}
