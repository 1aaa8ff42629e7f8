/**
 * `tesser-reconcile/machines`: the engine's lifecycle as XState v5 definitions, for people who visualize it (the
 * Stately inspector, a diagram) or test it: the machine, its phases, and the abstract model used for path tests.
 * The engine itself (`createEngine` at the package root) is what runs it.
 */
export {
  engineMachine,
  enginePhase,
  persistedLifecycle,
  startupRetryDelayMs,
  DEFAULT_STARTUP_RETRY,
  NotProvidedError,
} from './engine.machine.js';
export type {
  CycleDigest,
  EngineContext,
  EngineInput,
  EngineFailure,
  LoadedLifecycle,
  LiquidateOnlyState,
  StartupRetryConfig,
  EngineCommand,
  EngineEvent,
  LoopEvent,
  LoopMessage,
  LoopInput,
  FlushInput,
  StartupInput,
  EngineMachine,
  EngineSnapshot,
  EngineActorRef,
  PersistedLifecycle,
} from './engine.machine.js';
export {
  LIFECYCLE_PHASES,
  FINAL_PHASES,
  phaseOf,
  exposureIncreaseAllowed,
  exposureReductionAllowed,
} from './lifecycle.js';
export type { LifecyclePhase } from './lifecycle.js';
export { lifecycleModel, LIFECYCLE_MODEL_EVENTS, serializeModelState } from './lifecycle.model.js';
