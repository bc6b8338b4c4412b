import { checkWebhookUrlLiteralHost, checkWebhookUrlSyntax, classifyIpAddress } from '../../src/domain/urlSafety';

describe('classifyIpAddress', () => {
  const refused: Array<[string, RegExp]> = [
    // IPv4
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /reserved/],
    ['10.0.0.1', /private.*1918/],
    ['10.255.255.255', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.254', /carrier-grade NAT/],
    ['127.0.0.1', /loopback/],
    ['127.10.20.30', /loopback/],
    ['169.254.1.1', /link-local/],
    ['169.254.169.254', /cloud metadata/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.0.0.8', /reserved/],
    ['192.0.2.10', /documentation/],
    ['192.88.99.1', /transition/],
    ['192.168.1.1', /private/],
    ['198.18.0.1', /benchmark/],
    ['198.19.255.255', /benchmark/],
    ['198.51.100.7', /documentation/],
    ['203.0.113.9', /documentation/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['240.0.0.1', /reserved/],
    ['255.255.255.255', /broadcast/],
    // IPv6
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['0:0:0:0:0:0:0:1', /loopback/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['fc00::1', /unique local/],
    ['fd12:3456:789a::1', /unique local/],
    ['fd00:ec2::254', /cloud metadata/],
    ['ff02::1', /multicast/],
    ['2001:db8::1', /documentation/],
    ['::ffff:127.0.0.1', /IPv4-mapped.*non-public.*loopback/],
    ['::ffff:7f00:1', /IPv4-mapped.*loopback/],
    ['::ffff:a9fe:a9fe', /IPv4-mapped.*metadata/],
    ['::ffff:10.1.2.3', /IPv4-mapped.*private/],
    ['0:0:0:0:0:ffff:c0a8:0101', /IPv4-mapped.*private/],
    ['64:ff9b::7f00:1', /NAT64.*loopback/],
    ['64:ff9b::192.168.0.1', /NAT64.*private/],
    ['::127.0.0.1', /IPv4-compatible/],
    ['::8.8.8.8', /IPv4-compatible/],
    ['100::1', /discard/],
    ['2001::1', /transition/],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
    ['2002:c0a8:0101::1', /6to4/],
    ['fec0::1', /site-local/],
    ['4000::1', /reserved/],
  ];

  it.each(refused)('refuses %s', (ip, reason) => {
    const verdict = classifyIpAddress(ip);
    expect(verdict.allowed).toBe(false);
    if (!verdict.allowed) expect(verdict.reason).toMatch(reason);
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '192.0.3.1',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:81c::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
  ])('allows public address %s', (ip) => {
    expect(classifyIpAddress(ip)).toEqual({ allowed: true });
  });

  it.each(['', 'localhost', 'example.com', '256.1.1.1', '1.2.3', '010.0.0.1', '[::1]', '1:2:3:4:5:6:7:8:9', '0x7f000001'])(
    'reports %p as not an IP address',
    (value) => {
      expect(classifyIpAddress(value)).toEqual({ allowed: false, reason: 'not an IP address' });
    },
  );
});

describe('checkWebhookUrlSyntax', () => {
  it.each(['https://hooks.example.com/kyc', 'http://hooks.example.com:8080/a?b=c', 'HTTPS://Example.COM/x', 'https://[2606:4700::1]/h'])(
    'accepts %s',
    (raw) => {
      const result = checkWebhookUrlSyntax(raw);
      expect(result.ok).toBe(true);
      if (result.ok) expect(result.url).toBeInstanceOf(URL);
    },
  );

  it.each([
    ['ftp scheme', 'ftp://example.com/file', /absolute http\(s\) URL/],
    ['javascript scheme', 'javascript:alert(1)', /absolute http\(s\) URL/],
    ['file scheme', 'file:///etc/passwd', /absolute http\(s\) URL/],
    ['relative path', '/webhooks/kyc', /absolute http\(s\) URL/],
    ['scheme-less host', 'example.com/hook', /absolute http\(s\) URL/],
    ['protocol-relative', '//example.com/hook', /absolute http\(s\) URL/],
    ['single slash', 'http:/example.com/hook', /absolute http\(s\) URL/],
    ['empty', '', /absolute http\(s\) URL/],
    ['no host', 'http://', /absolute http\(s\) URL|host/],
    ['username and password', 'https://user:pass@example.com/hook', /username or password/],
    ['username only', 'https://user@example.com/hook', /username or password/],
    ['too long', 'https://example.com/' + 'a'.repeat(2048), /at most 2048/],
    ['whitespace', 'https://example.com/a b', /whitespace/],
    ['newline', 'https://example.com/\nhook', /whitespace|control/],
  ])('rejects %s', (_name, raw, message) => {
    const result = checkWebhookUrlSyntax(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message).toMatch(message);
  });

  it('accepts exactly 2048 characters', () => {
    const prefix = 'https://example.com/';
    expect(checkWebhookUrlSyntax(prefix + 'a'.repeat(2048 - prefix.length)).ok).toBe(true);
  });
});

describe('checkWebhookUrlLiteralHost', () => {
  const verdictFor = (raw: string) => checkWebhookUrlLiteralHost(new URL(raw));

  it.each([
    'http://127.0.0.1:8080/',
    'http://[::1]/',
    'http://[::ffff:127.0.0.1]/',
    'http://169.254.169.254/latest/meta-data',
    'http://0x7f.1/', // the URL parser normalises this to 127.0.0.1
    'http://2130706433/',
    'http://localhost/',
    'http://LOCALHOST./',
    'http://api.localhost/',
    'http://printer.local/',
    'http://metadata.google.internal/',
    'http://router.home.arpa/',
  ])('refuses %s', (raw) => {
    expect(verdictFor(raw).allowed).toBe(false);
  });

  it.each(['https://hooks.example.com/', 'https://8.8.8.8/', 'https://[2606:4700:4700::1111]/', 'https://localhost.example.com/'])(
    'allows %s (DNS is checked later)',
    (raw) => {
      expect(verdictFor(raw)).toEqual({ allowed: true });
    },
  );
});
