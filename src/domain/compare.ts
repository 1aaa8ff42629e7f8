/**
 * Small pure helpers every layer shares: the one string order (sorting keys, symbols, assets, ids) and the one way
 * to drop `undefined` fields before spreading options over defaults.
 */

/**
 * The code-unit order of two strings (what `<` does), as a comparator. Not `localeCompare`: report, journal and
 * log order must not depend on the machine's locale.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A copy of `o` without its `undefined` fields (none for an absent `o`), so `{ ...defaults, ...definedOnly(o) }`
 * keeps a default where a caller passed `{ field: undefined }` (plain spreading would overwrite the default with
 * `undefined`).
 */
export function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  const out: Partial<T> = {};
  if (o === undefined) return out;
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
