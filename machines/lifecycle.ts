/**
 * The engine lifecycle's vocabulary, shared by the real machine (`engine.machine.ts`) and the abstract model
 * (`lifecycle.model.ts`): the phase names, the mapping from a machine's state value to a phase, and which phases
 * let the strategy add exposure. Both machines map their state values through `phaseOf`, so a test can compare
 * them phase by phase.
 */
import type { StateValue } from 'xstate';

/** Every phase of the engine lifecycle, in boot order. */
export const LIFECYCLE_PHASES = [
  'loading',
  'startupReconcile',
  'running',
  'liquidateOnly',
  'stopping',
  'stopped',
  'failed',
] as const;
export type LifecyclePhase = (typeof LIFECYCLE_PHASES)[number];

/** Phases in which the engine will never act again. */
export const FINAL_PHASES: ReadonlySet<LifecyclePhase> = new Set<LifecyclePhase>(['stopped', 'failed']);

/**
 * The phase of a lifecycle machine's state value. `running` and `liquidateOnly` are children of `active` (so the
 * reconciliation loop, invoked on `active`, survives switching between them); `startupReconcile` has children
 * `attempt` and `waiting` (retry backoff).
 */
export function phaseOf(value: StateValue): LifecyclePhase {
  if (typeof value === 'string') {
    if ((LIFECYCLE_PHASES as readonly string[]).includes(value)) return value as LifecyclePhase;
    throw new RangeError(`phaseOf: unknown lifecycle state ${JSON.stringify(value)}`);
  }
  if ('startupReconcile' in value) return 'startupReconcile';
  const active = value['active'];
  if (active === 'running' || active === 'liquidateOnly') return active;
  throw new RangeError(`phaseOf: unknown lifecycle state ${JSON.stringify(value)}`);
}

/**
 * True only when the strategy may place an order that INCREASES exposure: in `running`, and never before startup
 * reconciliation finished, in liquidate-only, or while stopping. Exposure-reducing orders are allowed also in
 * `liquidateOnly`.
 */
export function exposureIncreaseAllowed(phase: LifecyclePhase): boolean {
  return phase === 'running';
}

/** True when exposure-reducing (liquidating) orders are allowed. */
export function exposureReductionAllowed(phase: LifecyclePhase): boolean {
  return phase === 'running' || phase === 'liquidateOnly';
}
