import { isIP, isIPv4, isIPv6 } from 'node:net';

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

const ALLOWED: AddressVerdict = { allowed: true };
const refuse = (reason: string): AddressVerdict => ({ allowed: false, reason });

export const MAX_WEBHOOK_URL_LENGTH = 2048;

// ---------------------------------------------------------------------------
// IPv4

type Ipv4Range = { base: number; prefix: number; reason: string };

function ipv4ToInt(ip: string): number {
  const parts = ip.split('.').map(Number);
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

function cidr4(base: string, prefix: number, reason: string): Ipv4Range {
  return { base: ipv4ToInt(base), prefix, reason };
}

function inRange4(value: number, range: Ipv4Range): boolean {
  if (range.prefix === 0) return true;
  const mask = (0xffffffff << (32 - range.prefix)) >>> 0;
  return ((value & mask) >>> 0) === ((range.base & mask) >>> 0);
}

// Order matters: the most specific entries come first so they give the more useful reason.
const IPV4_BLOCKED: Ipv4Range[] = [
  cidr4('0.0.0.0', 32, 'unspecified address'),
  cidr4('255.255.255.255', 32, 'broadcast address'),
  cidr4('169.254.169.254', 32, 'cloud metadata address'),
  cidr4('0.0.0.0', 8, 'reserved address ("this network")'),
  cidr4('10.0.0.0', 8, 'private address (RFC 1918)'),
  cidr4('172.16.0.0', 12, 'private address (RFC 1918)'),
  cidr4('192.168.0.0', 16, 'private address (RFC 1918)'),
  cidr4('100.64.0.0', 10, 'carrier-grade NAT address'),
  cidr4('127.0.0.0', 8, 'loopback address'),
  cidr4('169.254.0.0', 16, 'link-local address'),
  cidr4('192.0.0.0', 24, 'reserved address (IETF protocol assignments)'),
  cidr4('192.0.2.0', 24, 'documentation/benchmark address'),
  cidr4('198.51.100.0', 24, 'documentation/benchmark address'),
  cidr4('203.0.113.0', 24, 'documentation/benchmark address'),
  cidr4('198.18.0.0', 15, 'documentation/benchmark address'),
  cidr4('192.88.99.0', 24, 'transition address (6to4 relay anycast)'),
  cidr4('224.0.0.0', 4, 'multicast address'),
  cidr4('240.0.0.0', 4, 'reserved address'),
];

function classifyIpv4(ip: string): AddressVerdict {
  const value = ipv4ToInt(ip);
  for (const range of IPV4_BLOCKED) {
    if (inRange4(value, range)) return refuse(range.reason);
  }
  return ALLOWED;
}

// ---------------------------------------------------------------------------
// IPv6

/** Expands a valid IPv6 literal (already checked with isIPv6, zone removed) into 8 16-bit groups. */
function parseIpv6(ip: string): number[] {
  let text = ip.toLowerCase();
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const lastPart = text.slice(lastColon + 1);
  if (lastPart.includes('.')) {
    const v4 = ipv4ToInt(lastPart);
    tail.push(v4 >>> 16, v4 & 0xffff);
    text = text.slice(0, lastColon + 1) + '0';
  }
  const toGroups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  let groups: number[];
  const gap = text.indexOf('::');
  if (gap >= 0) {
    const head = toGroups(text.slice(0, gap));
    const rest = toGroups(text.slice(gap + 2));
    const fill = 8 - (tail.length > 0 ? 1 : 0) - head.length - rest.length;
    groups = [...head, ...new Array(Math.max(fill, 0)).fill(0), ...rest];
  } else {
    groups = toGroups(text);
  }
  if (tail.length > 0) groups = [...groups.slice(0, groups.length - 1), ...tail];
  return groups;
}

function groupsToIpv4(groups: number[]): string {
  const hi = groups[6];
  const lo = groups[7];
  return `${hi >>> 8}.${hi & 0xff}.${lo >>> 8}.${lo & 0xff}`;
}

function prefixMatches(groups: number[], prefixGroups: number[], prefixBits: number): boolean {
  let bits = prefixBits;
  for (let i = 0; bits > 0; i++, bits -= 16) {
    const take = Math.min(bits, 16);
    const mask = (0xffff << (16 - take)) & 0xffff;
    if ((groups[i] & mask) !== ((prefixGroups[i] ?? 0) & mask)) return false;
  }
  return true;
}

function classifyIpv6(ipWithZone: string): AddressVerdict {
  // A zone id only makes sense for link-scoped addresses; the address itself decides.
  const ip = ipWithZone.split('%')[0];
  const g = parseIpv6(ip);
  if (g.length !== 8) return refuse('not an IP address');
  const firstSixZero = g.slice(0, 6).every((x) => x === 0);

  if (firstSixZero && g[6] === 0 && g[7] === 0) return refuse('unspecified address');
  if (firstSixZero && g[6] === 0 && g[7] === 1) return refuse('loopback address');

  // ::ffff:a.b.c.d — the socket ends up talking IPv4, so the IPv4 rules apply.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const inner = classifyIpv4(groupsToIpv4(g));
    return inner.allowed ? ALLOWED : refuse(`IPv4-mapped IPv6 address of a non-public IPv4 (${inner.reason})`);
  }
  // NAT64 well-known prefix 64:ff9b::/96 reaches the embedded IPv4 address.
  if (prefixMatches(g, [0x64, 0xff9b, 0, 0, 0, 0], 96)) {
    const inner = classifyIpv4(groupsToIpv4(g));
    return inner.allowed ? ALLOWED : refuse(`NAT64 address of a non-public IPv4 (${inner.reason})`);
  }
  if (firstSixZero) return refuse('reserved address (IPv4-compatible IPv6)');
  if (prefixMatches(g, [0, 0, 0, 0, 0xffff, 0], 96)) return refuse('reserved address (IPv4-translated IPv6)');

  if (prefixMatches(g, [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254], 128)) return refuse('cloud metadata address');
  if (prefixMatches(g, [0xfe80], 10)) return refuse('link-local address');
  if (prefixMatches(g, [0xfec0], 10)) return refuse('site-local address (deprecated)');
  if (prefixMatches(g, [0xfc00], 7)) return refuse('unique local IPv6 address');
  if (prefixMatches(g, [0xff00], 8)) return refuse('multicast address');
  if (prefixMatches(g, [0x0100, 0, 0, 0], 64)) return refuse('reserved address (discard prefix)');
  if (prefixMatches(g, [0x2001, 0x0db8], 32)) return refuse('documentation/benchmark address');
  if (prefixMatches(g, [0x3fff], 20)) return refuse('documentation/benchmark address');
  if (prefixMatches(g, [0x2001, 0x0002, 0], 48)) return refuse('documentation/benchmark address');
  if (prefixMatches(g, [0x2001, 0x0000], 32)) return refuse('transition address (Teredo)');
  if (prefixMatches(g, [0x2002], 16)) return refuse('transition address (6to4)');
  if (prefixMatches(g, [0x64, 0xff9b, 0x0001], 48)) return refuse('reserved address (local-use NAT64)');

  // Only 2000::/3 is allocated as global unicast; everything else is reserved by the IETF.
  if (!prefixMatches(g, [0x2000], 3)) return refuse('reserved address');
  return ALLOWED;
}

// ---------------------------------------------------------------------------

/** Decides whether an outgoing webhook may connect to this IP address. */
export function classifyIpAddress(ip: string): AddressVerdict {
  if (typeof ip !== 'string') return refuse('not an IP address');
  if (isIPv4(ip)) return classifyIpv4(ip);
  if (isIPv6(ip)) return classifyIpv6(ip);
  return refuse('not an IP address');
}

export function checkWebhookUrlSyntax(raw: string): { ok: true; url: URL } | { ok: false; message: string } {
  if (typeof raw !== 'string' || raw.length === 0) return { ok: false, message: 'must be an absolute http(s) URL' };
  if (raw.length > MAX_WEBHOOK_URL_LENGTH) {
    return { ok: false, message: `must be at most ${MAX_WEBHOOK_URL_LENGTH} characters long` };
  }
  // The URL parser silently drops these, so what would be stored differs from what was typed.
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) {
    return { ok: false, message: 'must not contain whitespace or control characters' };
  }
  // Also rejects forms like "http:/host" that the WHATWG parser would quietly repair.
  if (!/^https?:\/\//i.test(raw)) return { ok: false, message: 'must be an absolute http(s) URL' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: 'must be an absolute http(s) URL' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, message: 'must be an absolute http(s) URL' };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, message: 'must not contain a username or password' };
  }
  if (url.hostname === '') return { ok: false, message: 'must include a host' };
  return { ok: true, url };
}

/** URL.hostname keeps the brackets around IPv6 literals; sockets and DNS want them gone. */
export function bareHostname(url: URL): string {
  const host = url.hostname;
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

const LOCAL_NAME_SUFFIXES = ['.localhost', '.local', '.internal', '.home.arpa'];

/** Checks what can be decided without DNS: IP literals and names that are local by definition. */
export function checkWebhookUrlLiteralHost(url: URL): AddressVerdict {
  const host = bareHostname(url);
  if (isIP(host) !== 0) return classifyIpAddress(host);
  const name = host.toLowerCase().replace(/\.+$/, '');
  if (name === '') return refuse('missing host');
  if (name === 'localhost') return refuse('loopback address (localhost)');
  if (LOCAL_NAME_SUFFIXES.some((suffix) => name.endsWith(suffix) || name === suffix.slice(1))) {
    return refuse('local network host name');
  }
  return ALLOWED;
}
