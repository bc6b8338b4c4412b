import * as http from 'node:http';
import * as https from 'node:https';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { bareHostname, checkWebhookUrlLiteralHost, checkWebhookUrlSyntax } from '../domain/urlSafety';
import { resolvePublicAddresses, type ResolvedAddress } from './safeLookup';

export type WebhookAttemptResult = {
  outcome: 'success' | 'failure' | 'refused';
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  /** First 1024 bytes of the response body decoded as UTF-8; null when no response arrived. */
  responseBody: string | null;
  retryAfterSeconds: number | null;
};

export type SendWebhookRequestInput = {
  url: string;
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  allowPrivateNetworks: boolean;
};

export const MAX_RESPONSE_BODY_BYTES = 1024;
export const MAX_RETRY_AFTER_SECONDS = 7 * 24 * 60 * 60;
const USER_AGENT = 'kyc-journeys-webhooks/1';

/** Parses Retry-After (delta-seconds or HTTP-date) into whole seconds from `now`. */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | null {
  const raw = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!raw) return null;
  let seconds: number;
  if (/^\d+$/.test(raw)) {
    seconds = Number(raw);
  } else {
    // HTTP-dates always name the month; this keeps Date.parse from accepting things like "-5".
    if (!/[a-z]{3}/i.test(raw)) return null;
    const at = Date.parse(raw);
    if (Number.isNaN(at)) return null;
    seconds = Math.ceil((at - now) / 1000);
  }
  if (!Number.isFinite(seconds)) return MAX_RETRY_AFTER_SECONDS;
  return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER_SECONDS);
}

/** Hands the socket the address that was already validated, so DNS cannot change between check and connect. */
function pinnedLookup(pinned: ResolvedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options?.all) {
      (callback as (err: null, addresses: { address: string; family: number }[]) => void)(null, [
        { address: pinned.address, family: pinned.family },
      ]);
    } else {
      callback(null, pinned.address, pinned.family);
    }
  };
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code) return e.code;
  if (e?.message) return e.message;
  return 'request failed';
}

export async function sendWebhookRequest(input: SendWebhookRequestInput): Promise<WebhookAttemptResult> {
  const started = performance.now();
  const elapsed = () => Math.max(0, Math.round(performance.now() - started));
  const result = (fields: Partial<WebhookAttemptResult> & Pick<WebhookAttemptResult, 'outcome'>): WebhookAttemptResult => ({
    statusCode: null,
    error: null,
    responseBody: null,
    retryAfterSeconds: null,
    ...fields,
    durationMs: elapsed(),
  });

  const syntax = checkWebhookUrlSyntax(input.url);
  if (!syntax.ok) return result({ outcome: 'refused', error: `invalid URL: ${syntax.message}` });
  const url = syntax.url;
  if (!input.allowPrivateNetworks) {
    const literal = checkWebhookUrlLiteralHost(url);
    if (!literal.allowed) return result({ outcome: 'refused', error: literal.reason });
  }

  const timeoutMs = Number.isFinite(input.timeoutMs) && input.timeoutMs > 0 ? Math.ceil(input.timeoutMs) : 1;

  return new Promise<WebhookAttemptResult>((resolve) => {
    let settled = false;
    let req: http.ClientRequest | undefined;
    let statusCode: number | null = null;

    const finish = (r: WebhookAttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
      // With agent:false the socket belongs to this request only; drop it rather than read more.
      req?.destroy();
    };

    // One deadline for DNS, connect, TLS, request and response together.
    const timer = setTimeout(() => {
      finish(result({ outcome: 'failure', statusCode, error: `timed out after ${timeoutMs} ms` }));
    }, timeoutMs);

    const start = async () => {
      const hostname = bareHostname(url);
      const resolved = await resolvePublicAddresses(hostname, input.allowPrivateNetworks);
      if (settled) return;
      if (!resolved.ok) {
        finish(result({ outcome: resolved.kind === 'refused' ? 'refused' : 'failure', error: resolved.reason }));
        return;
      }

      const headers: Record<string, string> = { ...input.headers };
      const lowerNames = new Set(Object.keys(headers).map((h) => h.toLowerCase()));
      if (!lowerNames.has('user-agent')) headers['user-agent'] = USER_AGENT;
      if (!lowerNames.has('content-length')) headers['content-length'] = String(Buffer.byteLength(input.body, 'utf8'));

      const isHttps = url.protocol === 'https:';
      const options: https.RequestOptions = {
        method: 'POST',
        // hostname stays the original name: it drives the Host header and TLS SNI/certificate checks.
        hostname,
        port: url.port === '' ? (isHttps ? 443 : 80) : Number(url.port),
        path: `${url.pathname}${url.search}`,
        headers,
        agent: false,
        lookup: pinnedLookup(resolved.addresses[0]),
      };
      if (isHttps && isIP(hostname) === 0) options.servername = hostname;

      const onResponse = (res: http.IncomingMessage) => {
        statusCode = res.statusCode ?? null;
        const chunks: Buffer[] = [];
        let size = 0;
        const complete = () => {
          const status = res.statusCode ?? 0;
          const responseBody = Buffer.concat(chunks).toString('utf8');
          const retryAfterSeconds = status === 429 || status === 503 ? parseRetryAfter(res.headers['retry-after']) : null;
          if (status >= 200 && status < 300) {
            finish(result({ outcome: 'success', statusCode: status, responseBody, retryAfterSeconds }));
          } else if (status >= 300 && status < 400) {
            finish(
              result({ outcome: 'failure', statusCode: status, responseBody, retryAfterSeconds, error: `redirect not followed (${status})` }),
            );
          } else {
            finish(result({ outcome: 'failure', statusCode: status, responseBody, retryAfterSeconds, error: `HTTP ${status}` }));
          }
        };
        res.on('data', (chunk: Buffer) => {
          if (settled) return;
          const room = MAX_RESPONSE_BODY_BYTES - size;
          if (room > 0) {
            const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
            chunks.push(part);
            size += part.length;
          }
          if (size >= MAX_RESPONSE_BODY_BYTES) complete();
        });
        res.on('end', complete);
        // The status line already decides the outcome; a body cut short does not change it.
        res.on('error', complete);
        res.on('close', complete);
      };

      req = (isHttps ? https : http).request(options, onResponse);
      req.on('error', (err) => finish(result({ outcome: 'failure', statusCode, error: errorText(err) })));
      req.end(input.body);
    };

    start().catch((err) => finish(result({ outcome: 'failure', statusCode, error: errorText(err) })));
  });
}
