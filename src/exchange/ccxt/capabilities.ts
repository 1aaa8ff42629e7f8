/**
 * Which ccxt method serves each port operation on one exchange, from ccxt's `has` (true or 'emulated' both count)
 * and the quirks table: the direct method when ccxt has it, else the fallback ccxt itself suggests. The adapter's
 * construction check and docs/exchanges.md are both this function, so the matrix cannot disagree with the code.
 */
import type { InstrumentKind } from '../../domain/types.js';
import { quirksOf } from './quirks.js';

/** An exchange as far as capability planning needs it (a ccxt instance, or a stand-in in tests). */
export interface ExchangeShape {
  readonly id: string;
  readonly has: Readonly<Record<string, unknown>>;
  /** Only read for its source: whether ccxt maps some ledger entry type to 'funding'. */
  readonly parseLedgerEntryType?: unknown;
}

/** How each port operation is served. */
export interface Routes {
  readonly openOrders: 'fetchOpenOrders';
  readonly order: 'fetchOrder' | 'fetchOpenOrder+fetchClosedOrder';
  readonly orderHistory:
    | 'fetchOrders'
    | 'fetchOpenOrders+fetchCanceledAndClosedOrders'
    | 'fetchOpenOrders+fetchClosedOrders+fetchCanceledOrders'
    | 'fetchOpenOrders+fetchClosedOrders';
  readonly trades: 'fetchMyTrades';
  readonly balance: 'fetchBalance';
  readonly cancel: 'cancelOrder';
  readonly place: 'createOrder';
  /** Perpetuals only. */
  readonly positions?: 'fetchPositions';
  readonly funding?: 'fetchFundingHistory' | 'fetchLedger';
}

/** The plan for one market kind: the routes, or the capabilities that are missing. */
export type KindPlan =
  | {
      readonly usable: true;
      readonly routes: Routes;
      readonly fallbacks: readonly string[];
      readonly emulated: readonly string[];
    }
  | { readonly usable: false; readonly missing: readonly string[] };

const has = (ex: ExchangeShape, m: string): boolean => ex.has[m] === true || ex.has[m] === 'emulated';

/** True when ccxt's ledger parser of this exchange types some entries 'funding' (read from its source). */
export function ledgerTypesFunding(ex: ExchangeShape): boolean {
  const f = ex.parseLedgerEntryType;
  return typeof f === 'function' && /['"]funding['"]/.test(Function.prototype.toString.call(f));
}

/** The routes for trading `kind` on `ex`, or every capability that is missing. */
export function planKind(ex: ExchangeShape, kind: InstrumentKind): KindPlan {
  const q = quirksOf(ex.id);
  const missing: string[] = [];
  const fallbacks: string[] = [];
  const need = (m: string): void => {
    if (!has(ex, m)) missing.push(m);
  };
  if (!has(ex, kind === 'spot' ? 'spot' : 'swap')) missing.push(kind === 'spot' ? 'spot markets' : 'swap markets');
  for (const m of ['fetchOpenOrders', 'fetchMyTrades', 'fetchBalance', 'cancelOrder', 'createOrder']) need(m);

  let order: Routes['order'] | undefined;
  const openClosed = has(ex, 'fetchOpenOrder') && has(ex, 'fetchClosedOrder');
  if (q.orderLookup === 'openThenClosed' && openClosed) order = 'fetchOpenOrder+fetchClosedOrder';
  else if (has(ex, 'fetchOrder')) order = 'fetchOrder';
  else if (openClosed) order = 'fetchOpenOrder+fetchClosedOrder';
  if (order === undefined) missing.push('fetchOrder (or fetchOpenOrder + fetchClosedOrder)');
  else if (order !== 'fetchOrder') fallbacks.push(`fetchOrder → ${order}`);

  let orderHistory: Routes['orderHistory'] | undefined;
  if (has(ex, 'fetchOrders')) orderHistory = 'fetchOrders';
  else if (has(ex, 'fetchCanceledAndClosedOrders')) orderHistory = 'fetchOpenOrders+fetchCanceledAndClosedOrders';
  else if (has(ex, 'fetchClosedOrders') && has(ex, 'fetchCanceledOrders'))
    orderHistory = 'fetchOpenOrders+fetchClosedOrders+fetchCanceledOrders';
  else if (has(ex, 'fetchClosedOrders')) orderHistory = 'fetchOpenOrders+fetchClosedOrders';
  if (orderHistory === undefined) missing.push('fetchOrders (or fetchClosedOrders)');
  else if (orderHistory !== 'fetchOrders') fallbacks.push(`fetchOrders → ${orderHistory}`);

  let positions: Routes['positions'];
  let funding: Routes['funding'];
  if (kind === 'perp') {
    need('fetchPositions');
    positions = 'fetchPositions';
    if (has(ex, 'fetchFundingHistory')) funding = 'fetchFundingHistory';
    else if (has(ex, 'fetchLedger') && (q.ledgerFunding !== undefined || ledgerTypesFunding(ex))) {
      funding = 'fetchLedger';
      fallbacks.push('fetchFundingHistory → fetchLedger');
    } else
      missing.push(
        has(ex, 'fetchLedger')
          ? 'fetchFundingHistory (the ledger has no funding type)'
          : 'fetchFundingHistory (or fetchLedger)',
      );
  }
  if (missing.length > 0) return { usable: false, missing };
  const used = [
    'fetchOpenOrders',
    'fetchMyTrades',
    'fetchBalance',
    'cancelOrder',
    'createOrder',
    ...(order as string).split('+'),
    ...(orderHistory as string).split('+'),
    ...(positions !== undefined ? [positions] : []),
    ...(funding !== undefined ? [funding] : []),
  ];
  const emulated = [...new Set(used.filter((m) => ex.has[m] === 'emulated'))].sort();
  const routes: Routes = {
    openOrders: 'fetchOpenOrders',
    order: order as Routes['order'],
    orderHistory: orderHistory as Routes['orderHistory'],
    trades: 'fetchMyTrades',
    balance: 'fetchBalance',
    cancel: 'cancelOrder',
    place: 'createOrder',
    ...(positions !== undefined && { positions }),
    ...(funding !== undefined && { funding }),
  };
  return { usable: true, routes, fallbacks, emulated };
}

/** One exchange's row of the matrix: spot and perpetuals assessed separately. */
export interface ExchangeAssessment {
  readonly id: string;
  readonly spot: KindPlan;
  readonly perp: KindPlan;
  /** Usable for at least one market kind. */
  readonly usable: boolean;
}

export function assessExchange(ex: ExchangeShape): ExchangeAssessment {
  const spot = planKind(ex, 'spot');
  const perp = planKind(ex, 'perp');
  return { id: ex.id, spot, perp, usable: spot.usable || perp.usable };
}
