/**
 * The "not found is not final" rule the ghost and submission machines share: a streak of consecutive "not found"
 * answers, final once it reaches `confirmations`; any other answer, or a retryable error, starts it over. One guard
 * and one assigner, so both machines count the same way.
 */
/** The part of a machine's context the streak lives in. */
export interface NotFoundStreak {
  /** Consecutive "not found" answers so far. */
  readonly notFound: number;
  /** Answers in a row that make "not found" final (`notFoundConfirmations`). */
  readonly confirmations: number;
}

/** Guard: this "not found" answer completes the streak. */
export const confirmedByThisAnswer = ({ context }: { readonly context: NotFoundStreak }): boolean =>
  context.notFound + 1 >= context.confirmations;

/** Assigner of `notFound`: one more "not found" in a row (each machine's `countNotFound` action assigns it). */
export const oneMoreNotFound = ({ context }: { readonly context: NotFoundStreak }): number => context.notFound + 1;
