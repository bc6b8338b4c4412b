import * as dns from 'node:dns';
import { isIP } from 'node:net';
import { checkWebhookUrlLiteralHost, checkWebhookUrlSyntax, classifyIpAddress } from '../domain/urlSafety';

export type ResolvedAddress = { address: string; family: 4 | 6 };

export type ResolveResult =
  | { ok: true; addresses: ResolvedAddress[] }
  // kind separates "destination not allowed" (permanent) from "DNS failed" (may be transient).
  | { ok: false; reason: string; kind: 'refused' | 'dns' };

function stripBrackets(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function familyOf(address: string): 4 | 6 {
  return isIP(address) === 6 ? 6 : 4;
}

/**
 * Resolves a host name and refuses it if any address is non-public: an attacker controlling DNS
 * could otherwise mix one public and one internal record and hope the internal one is used.
 */
export async function resolvePublicAddresses(hostname: string, allowPrivateNetworks: boolean): Promise<ResolveResult> {
  const host = stripBrackets(hostname);

  if (isIP(host) !== 0) {
    if (!allowPrivateNetworks) {
      const verdict = classifyIpAddress(host);
      if (!verdict.allowed) return { ok: false, reason: verdict.reason, kind: 'refused' };
    }
    return { ok: true, addresses: [{ address: host.split('%')[0], family: familyOf(host) }] };
  }

  if (!allowPrivateNetworks) {
    const verdict = checkWebhookUrlLiteralHost(new URL(`http://${host}/`));
    if (!verdict.allowed) return { ok: false, reason: verdict.reason, kind: 'refused' };
  }

  let records: dns.LookupAddress[];
  try {
    // Looked up through the module object at call time so tests can substitute a resolver.
    records = await dns.promises.lookup(host, { all: true, verbatim: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOTFOUND' || code === 'ENODATA' || code === 'EAI_NONAME') {
      return { ok: false, reason: 'host does not resolve', kind: 'dns' };
    }
    return { ok: false, reason: `DNS lookup failed (${code ?? 'unknown error'})`, kind: 'dns' };
  }
  if (records.length === 0) return { ok: false, reason: 'host does not resolve', kind: 'dns' };

  const addresses: ResolvedAddress[] = [];
  for (const record of records) {
    if (!allowPrivateNetworks) {
      const verdict = classifyIpAddress(record.address);
      if (!verdict.allowed) return { ok: false, reason: `host resolves to a non-public address (${verdict.reason})`, kind: 'refused' };
    }
    addresses.push({ address: record.address, family: record.family === 6 ? 6 : familyOf(record.address) });
  }
  return { ok: true, addresses };
}

/** Save-time validation of a webhook URL. Delivery re-checks, since DNS can change in between. */
export async function checkWebhookUrl(
  raw: string,
  allowPrivateNetworks: boolean,
): Promise<{ ok: true; url: URL } | { ok: false; message: string }> {
  const syntax = checkWebhookUrlSyntax(raw);
  if (!syntax.ok) return syntax;
  if (allowPrivateNetworks) return syntax;

  const literal = checkWebhookUrlLiteralHost(syntax.url);
  if (!literal.allowed) return { ok: false, message: `destination not allowed: ${literal.reason}` };

  const resolved = await resolvePublicAddresses(syntax.url.hostname, false);
  if (!resolved.ok) {
    if (resolved.kind === 'dns') return { ok: false, message: 'host does not resolve' };
    return { ok: false, message: `destination not allowed: ${resolved.reason}` };
  }
  return syntax;
}
