import { canonicalJson } from '../../src/domain/canonicalJson';

describe('canonicalJson (RFC 8785)', () => {
  it('sorts keys by UTF-16 code units, including non-ASCII keys (RFC 8785 §3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Compare the text: Object.keys on a parsed object would hoist the integer-like key "1".
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('orders a surrogate pair before U+FB33 (code units, not code points)', () => {
    expect(canonicalJson({ '\ufb33': 1, '\ud83d\ude00': 2 })).toBe('{"\ud83d\ude00":2,"\ufb33":1}');
  });

  it('reproduces the RFC 8785 §3.2.2 sample', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it.each([
    [0, '0'],
    [-0, '0'],
    [1, '1'],
    [-1, '-1'],
    [0.1, '0.1'],
    [1e21, '1e+21'],
    [1e20, '100000000000000000000'],
    [1e-7, '1e-7'],
    [1e-6, '0.000001'],
    [0.000001, '0.000001'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991'],
    [Number.MAX_VALUE, '1.7976931348623157e+308'],
    [Number.MIN_VALUE, '5e-324'],
    [-1.5e-300, '-1.5e-300'],
    [295147905179352830000, '295147905179352830000'],
  ])('number %p -> %s', (n, s) => {
    expect(canonicalJson(n)).toBe(s);
  });

  it('parses 1E-7 written in exponent notation', () => {
    expect(canonicalJson(JSON.parse('[1E-7, 1E21, 1.0, -0.0]'))).toBe('[1e-7,1e+21,1,0]');
  });

  it('throws on NaN and Infinity', () => {
    expect(() => canonicalJson(NaN)).toThrow(TypeError);
    expect(() => canonicalJson({ a: Infinity })).toThrow(TypeError);
    expect(() => canonicalJson([-Infinity])).toThrow(TypeError);
  });

  it('escapes strings like JSON.stringify', () => {
    expect(canonicalJson('a"b\\c\n\t\b\f\r\u0000\u001f\u007f/é€😀')).toBe(
      '"a\\"b\\\\c\\n\\t\\b\\f\\r\\u0000\\u001f\u007f/é€😀"',
    );
    expect(canonicalJson('\ud800')).toBe('"\\ud800"'); // lone surrogate: well-formed JSON.stringify
  });

  it('handles nesting, arrays in order, no whitespace', () => {
    const input = { z: [3, 1, { b: 2, a: [true, null, 'x'] }], a: { d: {}, c: [] }, m: 'm' };
    expect(canonicalJson(input)).toBe('{"a":{"c":[],"d":{}},"m":"m","z":[3,1,{"a":[true,null,"x"],"b":2}]}');
  });

  it('omits undefined properties; undefined array items become null like JSON.stringify', () => {
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
  });

  it('is stable under key insertion order and a JSON round trip', () => {
    const a = { x: 1, y: { p: [1, 2], q: 'é' }, d: new Date(0) };
    const b = { y: { q: 'é', p: [1, 2] }, d: '1970-01-01T00:00:00.000Z', x: 1 };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(JSON.parse(JSON.stringify(a)))).toBe(canonicalJson(a));
  });

  it('accepts null-prototype objects', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o.b = 1;
    o.a = 2;
    expect(canonicalJson(o)).toBe('{"a":2,"b":1}');
  });

  it('throws on unsupported types', () => {
    expect(() => canonicalJson(BigInt(1))).toThrow(/bigint/);
    expect(() => canonicalJson({ f: () => 1 })).toThrow(/function/);
    expect(() => canonicalJson({ s: Symbol('x') })).toThrow(/symbol/);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
    expect(() => canonicalJson(new Map([['a', 1]]))).toThrow(/Map/);
    expect(() => canonicalJson({ s: new Set([1]) })).toThrow(/Set/);
  });

  it('throws on circular structures but allows shared references', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
    const cyc: Record<string, unknown> = {};
    cyc.self = cyc;
    expect(() => canonicalJson(cyc)).toThrow(/circular/);
  });
});
