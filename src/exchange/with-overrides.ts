/**
 * An exchange client with some members replaced (a stream switched on later, a timestamping tap, a slow method in a
 * test). Every other member is the target's own, called on the target itself: a plain `Object.create(target)` would
 * run its methods on the copy, and their writes would split the target's state in two.
 */
export function withOverrides<T extends object>(target: T, overrides: { readonly [K in keyof T]?: T[K] }): T {
  return new Proxy(target, {
    get: (t, key) => {
      if (Object.hasOwn(overrides, key)) return (overrides as Record<PropertyKey, unknown>)[key];
      const v: unknown = Reflect.get(t, key, t);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}
