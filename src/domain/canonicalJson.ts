// RFC 8785 JSON Canonicalization Scheme (JCS). Pure: no imports.
//
// Deliberately mirrors JSON.stringify for everything JCS leaves to ECMAScript (number and
// string serialization, toJSON, undefined array items -> null), so that
// canonicalJson(x) === canonicalJson(JSON.parse(JSON.stringify(x))). Audit bodies
// round-trip through Postgres jsonb and must hash the same afterwards.

export function canonicalJson(value: unknown): string {
  const out = serialize(value, '', new Set<object>());
  if (out === undefined) throw new TypeError('canonicalJson: top-level value is undefined');
  return out;
}

// Returns undefined only for `undefined`, which the caller omits (object) or nulls (array).
function serialize(value: unknown, key: string, ancestors: Set<object>): string | undefined {
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: (k: string) => unknown }).toJSON(key); // e.g. Date -> ISO string
  }
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      // JSON.stringify would silently emit null for these; JCS forbids them.
      if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value); // ECMAScript Number::toString, -0 -> "0"
    case 'string':
      return JSON.stringify(value);
    case 'bigint':
    case 'function':
    case 'symbol':
      throw new TypeError(`canonicalJson: unsupported type ${typeof value}${key ? ` at key ${JSON.stringify(key)}` : ''}`);
    case 'object':
      break;
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (ancestors.has(obj)) throw new TypeError('canonicalJson: circular structure');
  ancestors.add(obj);
  try {
    if (Array.isArray(obj)) {
      const items = obj.map((item, i) => serialize(item, String(i), ancestors) ?? 'null');
      return `[${items.join(',')}]`;
    }
    const proto = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      // Map, Set, class instances, boxed primitives: JSON.stringify would lose data silently.
      throw new TypeError(`canonicalJson: unsupported object type ${obj.constructor?.name ?? 'unknown'}`);
    }
    // Default sort compares UTF-16 code units, exactly what RFC 8785 §3.2.3 requires.
    const keys = Object.keys(obj).sort();
    const parts: string[] = [];
    for (const k of keys) {
      const v = serialize((obj as Record<string, unknown>)[k], k, ancestors);
      if (v !== undefined) parts.push(`${JSON.stringify(k)}:${v}`);
    }
    return `{${parts.join(',')}}`;
  } finally {
    ancestors.delete(obj);
  }
}
