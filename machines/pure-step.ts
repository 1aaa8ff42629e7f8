/**
 * A handler machine's transition as a pure function of a living state (value and context) and an event: how planning
 * gives a machine its evidence without an actor (xstate's `getNextSnapshot` on the state restored by
 * `resolveState`), so the machine itself decides and the engine later sends the same events to the real actor.
 */
import { getNextSnapshot, type AnyStateMachine, type EventObject } from 'xstate';

/** A living machine state: its value (a top-level state name) and context. */
export interface MachineState<V extends string, C> {
  readonly value: V;
  readonly context: C;
}

/** Where `state` goes on `event` in `machine`; undefined when the event ends the machine (a final state). */
export function pureStep<V extends string, C>(
  machine: AnyStateMachine,
  state: MachineState<V, C>,
  event: EventObject,
): MachineState<V, C> | undefined {
  const next = getNextSnapshot(machine, machine.resolveState(state), event);
  return next.status === 'done' ? undefined : { value: next.value as V, context: next.context as C };
}
