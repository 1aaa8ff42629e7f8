/**
 * Public data shapes of the SimulatedExchange's control side: its truth (everything that happened on the
 * account), its ledger (every balance change with its cause), its call log, and its JSON event history.
 */
import type { Decimal } from 'decimal.js';
import type { Millis } from '../../domain/clock.js';
import type { ExchangeErrorKind } from '../../domain/errors.js';
import type { FillJSON, FundingPaymentJSON, OrderJSON } from '../../domain/parse.js';
import type { Balance, Fill, FundingPayment, Order, Position } from '../../domain/types.js';
import type { FaultKind, ExchangeMethod } from './faults.js';
import type { PlaceOrderRequest } from '../port.js';

/** Who placed an order: our engine through the port, someone "by hand", or the exchange itself (liquidation). */
export type OrderOwner = 'engine' | 'manual' | 'exchange';

/** A deposit made with `deposit()`. */
export interface Deposit {
  readonly id: string;
  readonly asset: string;
  readonly amount: Decimal;
  readonly timestamp: Millis;
}

/** Why a balance changed. A spot trade moves base and quote (`trade`); a perp trade settles `realizedPnl`. */
export type LedgerCause =
  | { readonly type: 'trade'; readonly tradeId: string }
  | { readonly type: 'realizedPnl'; readonly tradeId: string }
  | { readonly type: 'fee'; readonly tradeId: string }
  | { readonly type: 'funding'; readonly fundingId: string }
  | { readonly type: 'deposit'; readonly depositId: string };

/** One balance change. Summing `amount` per asset onto the starting balances gives the current totals. */
export interface LedgerEntry {
  readonly seq: number;
  readonly at: Millis;
  readonly asset: string;
  readonly amount: Decimal;
  readonly balanceAfter: Decimal;
  readonly cause: LedgerCause;
}

/** Everything the exchange knows about the account, now. */
export interface SimulatedTruth {
  /** Every order ever accepted (open and closed, ours, manual and liquidation orders), by exchange id. */
  readonly orders: readonly Order[];
  /** Every trade of the account, oldest first (liquidation trades included). */
  readonly trades: readonly Fill[];
  readonly funding: readonly FundingPayment[];
  readonly deposits: readonly Deposit[];
  readonly balances: readonly Balance[];
  readonly positions: readonly Position[];
  /** The balances the exchange started with (free = total). */
  readonly initialBalances: readonly Balance[];
}

/** One call of an `ExchangeClient` method. */
export interface CallLogEntry {
  readonly seq: number;
  readonly method: ExchangeMethod;
  readonly at: Millis;
  /** Later than `at` when a latency fault made the call take virtual time. */
  readonly completedAt: Millis;
  readonly outcome: 'ok' | ExchangeErrorKind;
  /** Faults that fired on this call, in injection order. */
  readonly faults: readonly FaultKind[];
  /** True when the call changed exchange state (a mutating call that took effect, even if its response was lost). */
  readonly effect: boolean;
}

/** A request for an order placed "by hand" (not by our engine): the client id is optional (`manual-<n>`). */
export type ManualOrderRequest = Omit<PlaceOrderRequest, 'clientOrderId'> & {
  readonly clientOrderId?: string | undefined;
};

export type JsonPrimitive = string | number | boolean | null;

/** One entry of the deterministic history. Amounts are decimal strings; everything is JSON. */
export type SimulatedEvent =
  | {
      readonly seq: number;
      readonly at: Millis;
      readonly type: 'order';
      readonly owner: OrderOwner;
      readonly order: OrderJSON;
    }
  | {
      readonly seq: number;
      readonly at: Millis;
      readonly type: 'trade';
      readonly owner: OrderOwner;
      readonly liquidity: 'maker' | 'taker';
      readonly fill: FillJSON;
    }
  | {
      readonly seq: number;
      readonly at: Millis;
      readonly type: 'funding';
      readonly rate: string;
      readonly markPrice: string;
      readonly payment: FundingPaymentJSON;
    }
  | {
      readonly seq: number;
      readonly at: Millis;
      readonly type: 'deposit';
      readonly id: string;
      readonly asset: string;
      readonly amount: string;
    }
  | {
      readonly seq: number;
      readonly at: Millis;
      readonly type: 'call';
      readonly method: ExchangeMethod;
      readonly completedAt: Millis;
      readonly outcome: 'ok' | ExchangeErrorKind;
      readonly faults: readonly FaultKind[];
      readonly effect: boolean;
    }
  | {
      readonly seq: number;
      readonly at: Millis;
      readonly type: 'control';
      readonly action: string;
      readonly args: Readonly<Record<string, JsonPrimitive>>;
    };

/** `history()`: JSON-serializable; the same seed and the same calls give byte-identical `JSON.stringify` output. */
export interface SimulatedHistory {
  readonly id: string;
  readonly seed: number | string;
  readonly events: readonly SimulatedEvent[];
}
