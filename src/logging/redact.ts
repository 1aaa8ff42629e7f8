/**
 * Secret redaction for log objects, at any depth. pino's own `redact` paths match one level per `*`, so a key
 * buried in a ccxt error's request config or in an Error `cause` chain would slip through; instead every log
 * object is walked once (bounded depth, cycle-safe) and copied with secret-looking keys censored and known secret
 * values scrubbed out of every string.
 */

/** What replaces a redacted value. */
export const REDACTED = '[Redacted]';

/**
 * Key names (compared lower-cased with `-`, `_` and spaces removed) whose values are always censored.
 * `apiKey`, `api_key`, `API-KEY` and `X-MBX-APIKEY` all normalize to something this list or SECRET_KEY_PARTS catches.
 */
const SECRET_KEYS: ReadonlySet<string> = new Set([
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'bearertoken',
  'authtoken',
  'sessiontoken',
  'sign',
  'signature',
  'cookie',
  'setcookie',
  'twofa',
  'otp',
  'mnemonic',
  'credentials',
]);

/** Substrings that mark a key as secret wherever they appear in it (`apiSecret`, `okAccessPassphrase`, ...). */
const SECRET_KEY_PARTS: readonly string[] = [
  'apikey',
  'secret',
  'password',
  'passwd',
  'passphrase',
  'privatekey',
  'accesskey',
  'authorization',
  'signature',
  'accesssign',
];

/** True when a property with this name must never reach a log line. */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_\s.]/g, '');
  if (SECRET_KEYS.has(k)) return true;
  return SECRET_KEY_PARTS.some((part) => k.includes(part));
}

export interface RedactOptions {
  /**
   * Literal secret values (e.g. the configured API key and secret) scrubbed from every string, wherever they
   * appear: in messages, error messages and stacks, URLs with query-string signatures.
   */
  readonly secretValues?: readonly string[] | undefined;
  /** Extra key names to censor, compared like the built-in ones. */
  readonly extraKeys?: readonly string[] | undefined;
  /** Deeper values are replaced by `[Depth]`. Default 12. */
  readonly maxDepth?: number | undefined;
}

/** A redactor bound to its options: `redactValue` for objects, `scrubString` for free text. */
export interface Redactor {
  redactValue(value: unknown): unknown;
  scrubString(text: string): string;
}

export function createRedactor(options: RedactOptions = {}): Redactor {
  // Very short values would censor ordinary words; a real key or secret is never this short.
  const secrets = (options.secretValues ?? []).filter((s) => s.length >= 6);
  // Longest first, so a secret that contains another is replaced whole.
  secrets.sort((a, b) => b.length - a.length);
  const extra = new Set((options.extraKeys ?? []).map((k) => k.toLowerCase().replace(/[-_\s.]/g, '')));
  const maxDepth = options.maxDepth ?? 12;

  const secretKey = (key: string): boolean =>
    isSecretKey(key) || (extra.size > 0 && extra.has(key.toLowerCase().replace(/[-_\s.]/g, '')));

  const scrubString = (text: string): string => {
    let out = text;
    for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
    return out;
  };

  const walk = (value: unknown, depth: number, seen: WeakSet<object>): unknown => {
    if (typeof value === 'string') return secrets.length === 0 ? value : scrubString(value);
    if (value === null || typeof value !== 'object') return value;
    if (seen.has(value)) return '[Circular]';
    if (depth >= maxDepth) return '[Depth]';
    seen.add(value);
    try {
      if (value instanceof Error) return errorToPlain(value, depth, seen);
      // Decimal, Date and friends serialize themselves; walk what they would serialize to.
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === 'function') return walk(toJSON.call(value), depth, seen);
      if (Array.isArray(value)) return value.map((v) => walk(v, depth + 1, seen));
      if (value instanceof Map) return walk(Object.fromEntries(value), depth, seen);
      if (value instanceof Set) return walk([...value], depth, seen);
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(value)) {
        // Defined, not assigned: a "__proto__" key of a logged payload stays a key instead of becoming the prototype.
        Object.defineProperty(out, key, {
          value: secretKey(key) ? REDACTED : walk((value as Record<string, unknown>)[key], depth + 1, seen),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    } finally {
      // Only ancestors count as cycles: the same object twice in siblings is logged twice.
      seen.delete(value);
    }
  };

  // The same shape pino's err serializer gives (type, message, stack, own fields), with `cause` followed.
  const errorToPlain = (err: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> => {
    const out: Record<string, unknown> = {
      type: err.name,
      message: walk(err.message, depth + 1, seen),
      stack: walk(err.stack, depth + 1, seen),
    };
    for (const key of Object.keys(err)) {
      if (key === 'cause') continue;
      out[key] = secretKey(key) ? REDACTED : walk((err as unknown as Record<string, unknown>)[key], depth + 1, seen);
    }
    if (err.cause !== undefined) out['cause'] = walk(err.cause, depth + 1, seen);
    return out;
  };

  return {
    redactValue: (value) => walk(value, 0, new WeakSet()),
    scrubString,
  };
}
