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

/**
 * A frozen list made from another by an edit a module knows exactly (the differ's incremental update knows which
 * orders left a list and which joined it): the list numbered `to` (`serialOf`) holds the items of the list numbered
 * `from` without `gone` and with `added`, counted as multisets. Both lists are known by their numbers only: held here,
 * each (a whole book of pointers) would outlive its cycle and be copied by the scavenges of the next (issue 16; the
 * edits kept, two cycles' worth, held the last cycle's lists of 1,000 orders alive through a scavenge).
 */
interface ListEdit {
  readonly from: number;
  readonly to: number;
  readonly gone: readonly unknown[];
  readonly added: readonly unknown[];
  /** Where each of `added` is in `to`, when the module that made `to` knows. */
  readonly addedAt?: readonly number[] | undefined;
}

/**
 * The latest edits noted, newest last: a cycle notes one per list it edits (the snapshot's open orders, the report's
 * matched pairs, the exchange's list), and they are read in the same cycle. Enough for the cycles of two engines in
 * one process, whose slices may interleave, to find their own.
 */
const edits: ListEdit[] = [];
const EDITS_KEPT = 6;

/**
 * How many of the last lists a view (`perListEdited`) derived it steps from: the views are the module's, shared by
 * every engine in the process, and engines taking turns each edit their own list (with one, each engine's edit was
 * from the other's list, and every view was derived afresh).
 */
const VIEWS_STEPPED_FROM = 4;

/** A number per list an edit or a view (`perListEdited`) met, so an edit can name the list it was made from. */
const serials = new WeakMap<readonly unknown[], number>();
let lastSerial = 0;

function serialOf(list: readonly unknown[]): number {
  let n = serials.get(list);
  if (n === undefined) serials.set(list, (n = ++lastSerial));
  return n;
}

/**
 * Notes that frozen `to` is frozen `from` without the items `gone` and with the items `added` (as multisets: an item
 * twice in `gone` left twice), `added[k]` at `to[addedAt[k]]` when `addedAt` is given. Both lists must stay as they
 * are, as for `perList`.
 */
export function noteListEdit<T>(
  from: readonly T[],
  to: readonly T[],
  gone: readonly T[],
  added: readonly T[],
  addedAt?: readonly number[],
): void {
  if (from === to || !Object.isFrozen(from) || !Object.isFrozen(to)) return;
  if (edits.length === EDITS_KEPT) edits.shift();
  edits.push({ from: serialOf(from), to: serialOf(to), gone, added, addedAt });
}

/** The latest edit noted (`noteListEdit`) that made `to`, from the list numbered `from`. */
function editTo(to: readonly unknown[], from: number | undefined): ListEdit | undefined {
  if (from === undefined) return undefined;
  // A list no edit made has no number yet (or one a view gave it, which no edit names as `to`).
  const serial = serials.get(to);
  if (serial === undefined) return undefined;
  for (let k = edits.length - 1; k >= 0; k--) {
    const e = edits[k]!;
    if (e.to === serial && e.from === from) return e;
  }
  return undefined;
}

/** The latest edit noted from `from` to `to` (`noteListEdit`), if it is still kept. */
export function listEdit<T>(
  from: readonly T[],
  to: readonly T[],
):
  | { readonly gone: readonly T[]; readonly added: readonly T[]; readonly addedAt?: readonly number[] | undefined }
  | undefined {
  return editTo(to, serials.get(from)) as (ListEdit & { gone: readonly T[]; added: readonly T[] }) | undefined;
}

/**
 * `derive` memoized by the identity of its (frozen) list argument, as `perList`, and made by `step` from the value of
 * the last list it derived when the list was edited from that one (`noteListEdit`): a cycle after a placement then
 * costs what changed, not a pass over every item (issue 16). `step(value, gone, added)` must give what `derive` gives
 * of the edited list; a list that is not frozen is derived afresh each time (nothing says it did not change).
 */
export function perListEdited<T, R>(
  derive: (list: readonly T[]) => R,
  step: (value: R, gone: readonly T[], added: readonly T[]) => R,
): (list: readonly T[]) => R {
  const memo = new WeakMap<readonly T[], { readonly value: R }>();
  // The last lists derived, newest last, by number (a list held here would outlive its cycle).
  const recent: { readonly serial: number; readonly value: R }[] = [];
  return (list) => {
    if (!Object.isFrozen(list)) return derive(list);
    const known = memo.get(list);
    if (known !== undefined) return known.value;
    let e: ListEdit | undefined;
    let k = recent.length - 1;
    for (; k >= 0 && e === undefined; k--) e = editTo(list, recent[k]!.serial);
    const value =
      e !== undefined ? step(recent[k + 1]!.value, e.gone as readonly T[], e.added as readonly T[]) : derive(list);
    memo.set(list, { value });
    if (recent.length === VIEWS_STEPPED_FROM) recent.shift();
    recent.push({ serial: serialOf(list), value });
    return value;
  };
}

/**
 * The items of a list sorted by `compare` (a total order: no two items compare equal) that `keep` keeps, in that
 * order and frozen; once per list, and from the last list's when it was edited (`perListEdited`). `keep` must read
 * nothing but the item. `candidates`, when it answers for a list, gives a part of it (in its order) that holds every
 * item `keep` keeps: only those are read.
 */
export function perListKept<T>(
  keep: (item: T) => boolean,
  compare: (a: T, b: T) => number,
  candidates?: (list: readonly T[]) => readonly T[] | undefined,
): (list: readonly T[]) => readonly T[] {
  return perListEdited(
    (list) => Object.freeze((candidates?.(list) ?? list).filter(keep)),
    (kept, gone, added) => {
      const left = gone.length === 0 ? kept : without(kept, gone);
      const joining = added.filter(keep);
      if (joining.length === 0) return left === kept ? kept : Object.freeze(left);
      const out: T[] = [];
      let j = 0;
      for (const item of left) {
        while (j < joining.length && compare(joining[j]!, item) < 0) out.push(joining[j++]!);
        out.push(item);
      }
      while (j < joining.length) out.push(joining[j++]!);
      return Object.freeze(out);
    },
  );
}

/** `list` without one occurrence of each of `gone` (items by identity). */
export function without<T>(list: readonly T[], gone: readonly T[]): T[] {
  const out = list.slice();
  for (const g of gone) {
    const at = out.lastIndexOf(g);
    if (at >= 0) out.splice(at, 1);
  }
  return out;
}
