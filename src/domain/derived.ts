/**
 * Derived views of immutable lists, computed once per list. The portfolio hands out the same list object until its
 * books change (`orders()`, `openOrders()`), and a snapshot's open orders are the same list while none changed
 * (`OpenOrderInterner`): a scan a cycle makes of such a list (its filled orders, its unanswered submissions) is done
 * on the first cycle that sees the list and looked up on the next ones, so a clean cycle does not walk every order
 * again to find none.
 */

/**
 * `derive` memoized by the identity of its list argument. Only for lists nobody changes after handing them out (the
 * portfolio's views and interned snapshots are read-only by contract), and for a `derive` that reads nothing else.
 */
export function perList<T, R>(derive: (list: readonly T[]) => R): (list: readonly T[]) => R {
  const memo = new WeakMap<readonly T[], R>();
  return (list) => {
    let r = memo.get(list);
    if (r === undefined && !memo.has(list)) {
      r = derive(list);
      memo.set(list, r);
    }
    return r as R;
  };
}
