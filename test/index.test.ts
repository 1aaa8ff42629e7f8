/**
 * The package root's export list is a contract: it is pinned here, values and types apart, so adding, removing or
 * renaming a public name is a visible diff in review. Values come from importing the module; types from the
 * TypeScript checker (every export) minus the values. The root re-exports by name only: no `export *`.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index.js';

const INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));

const VALUES = [
  'ConfigError',
  'DEFAULT_INTERVAL_MS',
  'Dec',
  'EngineNotReadyError',
  'ExchangeError',
  'ExchangeMismatchError',
  'FileStateStore',
  'MissingPeerDependencyError',
  'NO_SLICING',
  'OrderConflictError',
  'OrderRefusedError',
  'ParseError',
  'Portfolio',
  'PortfolioError',
  'ReconcileNowError',
  'SnapshotRaceError',
  'StoreCorruptError',
  'StoreError',
  'StreamMessageError',
  'TesserError',
  'budgetSlicer',
  'clientOrderIdProblem',
  'createEngine',
  'createLogger',
  'everyPointSlicer',
  'hasExecutionStream',
  'isExchangeError',
  'isNotFoundError',
  'isOrderRefusedError',
  'isPortfolioError',
  'isRetryableError',
  'isSnapshotRaceError',
  'isStoreError',
  'isStreamMessageError',
  'parseExecutionMessage',
  'planToJSON',
  'reportSummary',
  'reportToJSON',
  'silentLogger',
];

const TYPES = [
  'AccountingErrorAction',
  'ActionCause',
  'ActionOutcome',
  'ActionStatus',
  'AdoptOrderAction',
  'AdvanceFundingCursorAction',
  'AdvanceTradeCursorAction',
  'AmountInput',
  'AppliedFill',
  'ApplyFillAction',
  'ApplyFundingAction',
  'BackoffOptions',
  'Balance',
  'BalanceDrift',
  'CancelOrderAction',
  'ClientOrderIdRule',
  'Clock',
  'CloseOrderAction',
  'ClosedOrderLookup',
  'CompactionPolicy',
  'CreateLoggerOptions',
  'CycleDigest',
  'Decimal',
  'DiffOptionsInput',
  'Engine',
  'EngineCommand',
  'EngineFailure',
  'EngineOptions',
  'EngineReport',
  'EngineStatus',
  'EnterLiquidateOnlyAction',
  'ExchangeClient',
  'ExchangeErrorKind',
  'ExchangeIdentity',
  'ExchangeSnapshot',
  'ExecutionEvent',
  'ExecutionMessageJSON',
  'ExecutionStreamCapability',
  'ExecutionStreamStats',
  'ExposureEffect',
  'FileStateStoreOptions',
  'Fill',
  'FillSource',
  'FinalExchangeErrorKind',
  'FundingPayment',
  'GhostOrder',
  'HistoryQuery',
  'IgnoreOrderAction',
  'InFlightOrder',
  'Instrument',
  'InstrumentKind',
  'JsonValue',
  'LifecyclePhase',
  'LiquidateOnlyState',
  'LiveState',
  'LoadedState',
  'LogFn',
  'Logger',
  'LoopMode',
  'MatchedOrder',
  'Millis',
  'OptionalPeer',
  'Order',
  'OrderDifferences',
  'OrderRef',
  'OrderRefusalCode',
  'OrderStatus',
  'OrderType',
  'Page',
  'ParseErrorCode',
  'PlaceOrderRequest',
  'Plan',
  'PlanAction',
  'PlanActionType',
  'PlanJSON',
  'PortfolioChange',
  'PortfolioErrorKind',
  'PortfolioOptions',
  'Position',
  'PositionDrift',
  'RebuildPortfolioAction',
  'ReconcileConfigInput',
  'ReconcileNowErrorKind',
  'ReconciliationReport',
  'ReconciliationReportJSON',
  'ReportSummary',
  'ResolvedConfig',
  'RetryableExchangeErrorKind',
  'Side',
  'Slicer',
  'StartupRetryConfig',
  'StateStore',
  'StoreErrorKind',
  'StoreUsage',
  'StreamMessageErrorKind',
  'TerminalOrderStatus',
  'TimeInForce',
  'Tolerance',
  'ToleranceInput',
  'TolerancesInput',
  'TrackOrderAction',
  'ValueChange',
  'ZombieOrder',
  'ZombiePolicy',
];

/** Every name src/index.ts exports, types included, as the TypeScript checker sees them. */
function exportedNames(file: string): string[] {
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: ['node'],
    skipLibCheck: true,
    noEmit: true,
  });
  const source = program.getSourceFile(file)!;
  const moduleSymbol = program.getTypeChecker().getSymbolAtLocation(source)!;
  return program
    .getTypeChecker()
    .getExportsOfModule(moduleSymbol)
    .map((s) => s.name);
}

describe('the package root (tesser-reconcile)', () => {
  it('exports exactly the pinned values', () => {
    expect(Object.keys(root).sort()).toEqual(VALUES);
  });

  it('exports exactly the pinned types (every export that is not a value)', () => {
    const all = exportedNames(INDEX);
    expect(all.filter((n) => !VALUES.includes(n)).sort()).toEqual(TYPES);
    expect(all).toHaveLength(VALUES.length + TYPES.length);
  }, 60_000);

  it('re-exports by name only: no `export *`', () => {
    expect(readFileSync(INDEX, 'utf8')).not.toMatch(/export\s+(type\s+)?\*/);
  });

  it('keeps test infrastructure and internals off the root', () => {
    for (const name of [
      'SimulatedExchange',
      'VirtualClock',
      'InMemoryStateStore',
      'createRandom',
      'lifecycleModel',
      'toLoopEvent',
      'engineMachine',
      'diff',
    ]) {
      expect(Object.keys(root)).not.toContain(name);
    }
  });
});
