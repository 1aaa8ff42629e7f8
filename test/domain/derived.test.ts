/**
 * Views of frozen lists (`src/domain/derived.ts`): derived once per list, and stepped from an earlier list's value
 * when a module noted the edit between them. The views are module-level, shared by every engine in a process.
 */
import { describe, expect, it } from 'vitest';
import { noteListEdit, perListEdited, perListKept } from '../../src/domain/derived.js';
import { collectGarbage } from '../support/heap.js';

/** A view counting the even numbers of a list, recording whether each value was derived or stepped. */
function evensView() {
  const how: ('derived' | 'stepped')[] = [];
  const even = (x: number): number => (x % 2 === 0 ? 1 : 0);
  const view = perListEdited(
    (list: readonly number[]) => {
      how.push('derived');
      return list.reduce((n, x) => n + even(x), 0);
    },
    (value, gone, added) => {
      how.push('stepped');
      return value - gone.reduce((n, x) => n + even(x), 0) + added.reduce((n, x) => n + even(x), 0);
    },
  );
  return { view, how };
}

/** `from` with `added` appended, frozen, and the edit noted. */
function appended(from: readonly number[], added: readonly number[]): readonly number[] {
  const to = Object.freeze([...from, ...added]);
  noteListEdit(from, to, [], added);
  return to;
}

describe('perListEdited', () => {
  it('derives a list once, and steps from the list an edit was made from', () => {
    const { view, how } = evensView();
    const a = Object.freeze([1, 2, 3, 4]);
    expect(view(a)).toBe(2);
    expect(view(a)).toBe(2);
    const b = appended(a, [6, 7]);
    expect(view(b)).toBe(3);
    expect(how).toEqual(['derived', 'stepped']);
    // A list that is not frozen may have changed: derived every time.
    expect(view([2, 2])).toBe(2);
    expect(how.at(-1)).toBe('derived');
  });

  it('two chains of lists edited in turn (two engines in one process) each step from their own last list', () => {
    const { view, how } = evensView();
    let mine: readonly number[] = Object.freeze([2, 4]);
    let theirs: readonly number[] = Object.freeze([1, 3, 5]);
    expect([view(mine), view(theirs)]).toEqual([2, 0]);
    for (let i = 0; i < 5; i++) {
      mine = appended(mine, [10 + i]);
      theirs = appended(theirs, [20 + i, 21 + i]);
      expect(view(mine)).toBe(mine.filter((x) => x % 2 === 0).length);
      expect(view(theirs)).toBe(theirs.filter((x) => x % 2 === 0).length);
    }
    expect(how).toEqual(['derived', 'derived', ...Array<string>(10).fill('stepped')]);
  });

  it('an edit that no longer matches a list it derived (a list it never saw) is derived afresh', () => {
    const { view, how } = evensView();
    const unseen = Object.freeze([2, 2, 2]);
    const next = appended(unseen, [4]);
    expect(view(next)).toBe(4);
    expect(how).toEqual(['derived']);
  });
});

describe('noteListEdit', () => {
  it('holds neither list of an edit: a list nothing else holds is collected', async () => {
    const { view, how } = evensView();
    const from = Object.freeze([1, 2]);
    view(from);
    // The edited list, held by nothing once this function returns.
    const made = ((): WeakRef<readonly number[]> => {
      const to = appended(from, [4]);
      expect(view(to)).toBe(2);
      return new WeakRef(to);
    })();
    expect(how).toEqual(['derived', 'stepped']);
    // A WeakRef keeps its target through the job that made it: the collection comes in a later one.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    // Held by the edits kept (two cycles' worth), the last cycle's lists of every order outlived it (issue 16).
    expect(made.deref()).toBeUndefined();
  });
});

describe('perListKept', () => {
  it('keeps the items `keep` keeps, in order, stepped from the last list through a noted edit', () => {
    const kept = perListKept(
      (x: number) => x > 10,
      (a: number, b: number) => a - b,
    );
    const a = Object.freeze([5, 11, 30]);
    expect(kept(a)).toEqual([11, 30]);
    const b = Object.freeze([5, 12, 30, 40]);
    noteListEdit(a, b, [11], [12, 40]);
    expect(kept(b)).toEqual([12, 30, 40]);
    expect(Object.isFrozen(kept(b))).toBe(true);
  });

  it('reads only the candidates a list has, and the whole list of one without', () => {
    const read: number[] = [];
    const candidatesOf = new Map<readonly number[], readonly number[]>();
    const kept = perListKept(
      (x: number) => {
        read.push(x);
        return x > 10;
      },
      (a: number, b: number) => a - b,
      (list) => candidatesOf.get(list),
    );
    const a = Object.freeze([5, 11, 7, 30, 2]);
    candidatesOf.set(a, [11, 30]);
    expect(kept(a)).toEqual([11, 30]);
    expect(read).toEqual([11, 30]);
    read.length = 0;
    const b = Object.freeze([5, 12, 30]);
    expect(kept(b)).toEqual([12, 30]);
    expect(read).toEqual([5, 12, 30]);
  });
});
