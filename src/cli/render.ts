/**
 * Text rendering for the CLI: a plain-text table with word-wrapped cells, and the rows of a reconciliation report
 * joined with the plan that answered it (category, order/asset, local, exchange, action taken, reason). Pure: the
 * same report, plan and outcomes always give the same text, whatever the terminal, so demo output is reproducible.
 */
import type { Decimal } from '../domain/decimal.js';
import type { Order } from '../domain/types.js';
import type { ReconciliationReport } from '../differ/report.js';
import type { ActionOutcome } from '../handlers/executor.js';
import type { Plan, PlanAction } from '../handlers/plan.js';

export interface Column {
  readonly header: string;
  /** Cells longer than this wrap onto more lines (at spaces when possible). Default: no limit. */
  readonly maxWidth?: number | undefined;
  readonly align?: 'left' | 'right' | undefined;
}

/** Splits `text` into lines of at most `width` characters, breaking at spaces, or inside a word longer than a line. */
export function wrapText(text: string, width: number): string[] {
  if (width < 1) throw new RangeError(`wrapText: width must be >= 1, got ${width}`);
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ').filter((w) => w !== '')) {
      let w = word;
      if (line !== '' && line.length + 1 + w.length <= width) {
        line += ` ${w}`;
        continue;
      }
      if (line !== '') out.push(line);
      // A word longer than the column is cut into column-wide pieces (ids and amounts are never lost).
      while (w.length > width) {
        out.push(w.slice(0, width));
        w = w.slice(width);
      }
      line = w;
    }
    out.push(line);
  }
  return out;
}

/**
 * Renders rows under a header line and a rule, columns separated by two spaces, every line right-trimmed.
 * Each cell may wrap; a row takes as many lines as its tallest cell.
 */
export function renderTable(columns: readonly Column[], rows: readonly (readonly string[])[], indent = ''): string {
  const cells = rows.map((r) => columns.map((c, i) => wrapText(r[i] ?? '', c.maxWidth ?? Number.MAX_SAFE_INTEGER)));
  const widths = columns.map((c, i) =>
    Math.max(c.header.length, ...cells.map((r) => Math.max(...r[i]!.map((l) => l.length)))),
  );
  const line = (parts: readonly string[]): string =>
    (
      indent +
      parts.map((p, i) => (columns[i]!.align === 'right' ? p.padStart(widths[i]!) : p.padEnd(widths[i]!))).join('  ')
    ).trimEnd();
  const out = [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w)))];
  for (const r of cells) {
    const height = Math.max(...r.map((c) => c.length));
    for (let k = 0; k < height; k++) out.push(line(r.map((c) => c[k] ?? '')));
  }
  return out.join('\n');
}

/** The columns of a report table. */
export const REPORT_COLUMNS: readonly Column[] = [
  { header: 'category', maxWidth: 10 },
  { header: 'order/asset', maxWidth: 28 },
  { header: 'local', maxWidth: 24 },
  { header: 'exchange', maxWidth: 26 },
  { header: 'action taken', maxWidth: 30 },
  { header: 'reason', maxWidth: 54 },
];

/** One row of a report table: what the differ found, and what the plan did about it. */
export interface ReportRow {
  readonly category: string;
  readonly subject: string;
  readonly local: string;
  readonly exchange: string;
  readonly action: string;
  readonly reason: string;
}

/** What the table is built from: the report, the plan made from it, and the outcome of each action. */
export interface ReportInput {
  readonly report: ReconciliationReport;
  readonly plan: Plan;
  readonly outcomes: readonly ActionOutcome[];
  /** The lifecycle mode the report was handled in: in liquidate-only, a new request to enter it only keeps it. */
  readonly mode?: string | undefined;
}

const NONE = '-';

function amount(d: Decimal): string {
  return d.toFixed();
}

/** `open 0.02/0.05` — status and filled/ordered quantity. */
export function orderState(o: Order): string {
  return `${o.status} ${amount(o.filledQuantity)}/${amount(o.quantity)}`;
}

/** `c-3 BTC/USDT buy @ 29950` — the order a row is about. */
export function orderSubject(o: Order): string {
  const price = o.price === undefined ? 'market' : `@ ${amount(o.price)}`;
  return `${o.clientOrderId} ${o.symbol} ${o.side} ${price}`;
}

/** A short label of what an action does (its outcome appended unless it simply happened). */
export function actionLabel(a: PlanAction, status?: ActionOutcome['status']): string {
  let label: string;
  switch (a.type) {
    case 'applyFill':
      label = `${a.fill.inferred ? 'inferred fill' : 'apply fill'} ${amount(a.fill.quantity)} @ ${amount(a.fill.price)}`;
      break;
    case 'recordTrade':
      label = `record as in the books ${amount(a.fill.quantity)} @ ${amount(a.fill.price)}`;
      break;
    case 'applyFunding':
      label = `apply funding ${amount(a.payment.amount)} ${a.payment.asset}`;
      break;
    case 'trackOrder':
      label = `update to ${a.order.status}`;
      break;
    case 'closeOrder':
      label = `close as ${a.status}`;
      break;
    case 'cancelOrder':
      label = 'cancel on exchange';
      break;
    case 'adoptOrder':
      label = 'adopt';
      break;
    case 'ignoreOrder':
      label = 'ignore';
      break;
    case 'rebuildPortfolio':
      label = 'hard reset from exchange';
      break;
    case 'enterLiquidateOnly':
      label = 'enter liquidate-only';
      break;
    case 'advanceTradeCursor':
    case 'advanceFundingCursor':
      label = 'advance history cursor';
      break;
    case 'accountingError':
      label = `ERROR ${a.cause}`;
      break;
  }
  return status === undefined || status === 'done' || status === 'noted' ? label : `${label} (${status})`;
}

function orderIdsOf(a: PlanAction): { symbol: string; xid?: string | undefined; cid?: string | undefined } | undefined {
  switch (a.type) {
    case 'applyFill':
    case 'recordTrade':
      return { symbol: a.fill.symbol, xid: a.fill.exchangeOrderId, cid: a.fill.clientOrderId };
    case 'trackOrder':
    case 'cancelOrder':
    case 'adoptOrder':
    case 'ignoreOrder':
      return { symbol: a.order.symbol, xid: a.order.exchangeOrderId, cid: a.order.clientOrderId };
    case 'closeOrder':
    case 'accountingError':
      return { symbol: a.ref.symbol, xid: a.ref.exchangeOrderId, cid: a.ref.clientOrderId };
    default:
      return undefined;
  }
}

function sameOrder(o: Order, ids: { symbol: string; xid?: string | undefined; cid?: string | undefined }): boolean {
  // Exchange order ids are per symbol.
  if (o.exchangeOrderId !== undefined && ids.xid !== undefined)
    return o.symbol === ids.symbol && o.exchangeOrderId === ids.xid;
  return ids.cid !== undefined && o.clientOrderId === ids.cid;
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/** Several fills of one order fold into one label, so a busy order stays one readable row. */
function summarizeActions(items: readonly { a: PlanAction; status: ActionOutcome['status'] | undefined }[]): string {
  const fills = items.filter((i) => i.a.type === 'applyFill');
  const rest = items.filter((i) => i.a.type !== 'applyFill');
  const labels: string[] = [];
  if (fills.length === 1) labels.push(actionLabel(fills[0]!.a, fills[0]!.status));
  else if (fills.length > 1) {
    let total: Decimal | undefined;
    for (const f of fills)
      if (f.a.type === 'applyFill') total = total === undefined ? f.a.fill.quantity : total.plus(f.a.fill.quantity);
    const odd = unique(fills.map((f) => f.status ?? 'done').filter((s) => s !== 'done'));
    labels.push(`apply ${fills.length} fills (${amount(total!)})${odd.length > 0 ? ` (${odd.join(', ')})` : ''}`);
  }
  for (const r of rest) labels.push(actionLabel(r.a, r.status));
  return labels.length === 0 ? NONE : labels.join('; ');
}

function splitSymbolAssets(symbol: string): string[] {
  // Unified symbols: BASE/QUOTE or BASE/QUOTE:SETTLE.
  return symbol.split(/[/:]/);
}

/**
 * The rows of one report: orders that differ, ghosts, zombies and in-flight orders (each with the actions taken on
 * it), position and balance drifts (with what answered them), then actions about no listed order (trades of
 * untracked orders, funding, a hard reset, liquidate-only, accounting errors). Orders in sync and history-cursor
 * moves are left out; `inSync` counts the former.
 */
export function reportRows(input: ReportInput): { rows: ReportRow[]; inSync: number } {
  const { report, plan } = input;
  const statusOf = new Map<PlanAction, ActionOutcome['status']>();
  for (const o of input.outcomes) statusOf.set(o.action, o.status);
  const used = new Set<PlanAction>();
  const rows: ReportRow[] = [];

  const actionsFor = (o: Order): { a: PlanAction; status: ActionOutcome['status'] | undefined }[] => {
    const out: { a: PlanAction; status: ActionOutcome['status'] | undefined }[] = [];
    for (const a of plan.actions) {
      const ids = orderIdsOf(a);
      if (ids === undefined || used.has(a) || !sameOrder(o, ids)) continue;
      used.add(a);
      out.push({ a, status: statusOf.get(a) });
    }
    return out;
  };
  const orderRow = (
    category: string,
    o: Order,
    local: string,
    exchange: string,
    fallbackReason: string,
    fallbackAction = NONE,
  ): void => {
    const acts = actionsFor(o);
    const reasons = unique(acts.filter((x) => x.a.type !== 'applyFill' || acts.length === 1).map((x) => x.a.reason));
    if (reasons.length === 0 && acts.length > 0) reasons.push(acts[0]!.a.reason);
    rows.push({
      category,
      subject: orderSubject(o),
      local,
      exchange,
      action: acts.length === 0 ? fallbackAction : summarizeActions(acts),
      reason: reasons.length === 0 ? fallbackReason : reasons.join('; '),
    });
  };

  let inSync = 0;
  for (const m of report.matched) {
    const acts = plan.actions.some((a) => {
      const ids = orderIdsOf(a);
      return ids !== undefined && sameOrder(m.local, ids);
    });
    if (!m.differs && !acts) {
      inSync++;
      continue;
    }
    const why =
      m.withinGrace === true
        ? 'changed within the grace window: judged next cycle'
        : 'local and exchange copies differ';
    orderRow(
      m.withinGrace === true ? 'matched*' : 'matched',
      m.local,
      orderState(m.local),
      orderState(m.exchange),
      why,
    );
  }
  for (const g of report.ghosts)
    orderRow(
      'ghost',
      g.local,
      orderState(g.local),
      'not open',
      'open locally, not open on the exchange',
      'wait for confirmation',
    );
  for (const z of report.zombies)
    orderRow('zombie', z.exchange, 'not tracked', orderState(z.exchange), 'open on the exchange, not tracked locally');
  for (const f of report.inFlight) {
    const why =
      f.reason === 'unacknowledged'
        ? 'no answer from the exchange yet: not judged'
        : 'changed within the grace window: not judged';
    orderRow('in flight', f.local, orderState(f.local), NONE, why, 'wait');
  }

  const alreadyLiquidateOnly = input.mode === 'liquidateOnly';
  const rebuild = plan.actions.find((a) => a.type === 'rebuildPortfolio');
  const liquidate = plan.actions.find((a) => a.type === 'enterLiquidateOnly');
  const fills = plan.actions.filter((a): a is Extract<PlanAction, { type: 'applyFill' }> => a.type === 'applyFill');
  const funding = plan.actions.filter(
    (a): a is Extract<PlanAction, { type: 'applyFunding' }> => a.type === 'applyFunding',
  );
  const driftAnswer = (
    kind: 'position' | 'balance',
    key: string,
    beyond: boolean,
    explained: boolean,
  ): { action: string; reason: string } => {
    if (rebuild !== undefined)
      return { action: actionLabel(rebuild, statusOf.get(rebuild)), reason: 'startup: the exchange is the truth' };
    if (liquidate?.type === 'enterLiquidateOnly' && liquidate.drifts.some((d) => d.kind === kind && d.key === key)) {
      const d = liquidate.drifts.find((x) => x.kind === kind && x.key === key)!;
      const action = alreadyLiquidateOnly ? 'stay in liquidate-only' : actionLabel(liquidate, statusOf.get(liquidate));
      return { action, reason: `no fill or funding explains it, ${d.cycles} cycles in a row` };
    }
    if (explained) return { action: 'fills/funding applied', reason: 'missed trades or funding explain it' };
    return beyond
      ? { action: 'watch', reason: 'no fill or funding explains it yet' }
      : { action: 'none', reason: 'within tolerance' };
  };
  for (const d of report.positionDrifts) {
    const explained = fills.some((f) => f.fill.symbol === d.symbol);
    const ans = driftAnswer('position', d.symbol, d.beyondTolerance, explained);
    rows.push({
      category: 'position',
      subject: d.symbol,
      local: amount(d.local),
      exchange: amount(d.exchange),
      ...ans,
    });
  }
  for (const d of report.balanceDrifts) {
    const explained =
      fills.some((f) => f.fill.feeAsset === d.asset || splitSymbolAssets(f.fill.symbol).includes(d.asset)) ||
      funding.some((f) => f.payment.asset === d.asset);
    const ans = driftAnswer('balance', d.asset, d.beyondTolerance, explained);
    rows.push({ category: 'balance', subject: d.asset, local: amount(d.local), exchange: amount(d.exchange), ...ans });
  }

  for (const a of plan.actions) {
    if (used.has(a) || a.type === 'advanceTradeCursor' || a.type === 'advanceFundingCursor') continue;
    const status = statusOf.get(a);
    switch (a.type) {
      case 'applyFill':
      case 'recordTrade':
        rows.push({
          category: 'trade',
          subject: `${a.fill.tradeId} ${a.fill.symbol}`,
          local: 'not applied',
          exchange: `${a.fill.side} ${amount(a.fill.quantity)} @ ${amount(a.fill.price)} (${a.fill.clientOrderId ?? a.fill.exchangeOrderId})`,
          action: actionLabel(a, status),
          reason: a.reason,
        });
        break;
      case 'applyFunding':
        rows.push({
          category: 'funding',
          subject: `${a.payment.id} ${a.payment.symbol}`,
          local: 'not applied',
          exchange: `${amount(a.payment.amount)} ${a.payment.asset}`,
          action: actionLabel(a, status),
          reason: a.reason,
        });
        break;
      case 'rebuildPortfolio':
        rows.push({
          category: 'books',
          subject: 'portfolio',
          local: 'local books',
          exchange: `${a.positions.length} positions, ${a.balances.length} balances`,
          action: actionLabel(a, status),
          reason: a.reason,
        });
        break;
      case 'enterLiquidateOnly':
        // Already there: the drift rows above say why it stays; a second row would repeat them.
        if (!alreadyLiquidateOnly)
          rows.push({
            category: 'lifecycle',
            subject: 'engine',
            local: input.mode ?? 'running',
            exchange: NONE,
            action: actionLabel(a, status),
            reason: a.reason,
          });
        break;
      default: {
        const ids = orderIdsOf(a);
        rows.push({
          category: a.type === 'accountingError' ? 'error' : 'order',
          subject: ids?.cid ?? ids?.xid ?? NONE,
          local: NONE,
          exchange: NONE,
          action: actionLabel(a, status),
          reason: a.reason,
        });
      }
    }
  }
  return { rows, inSync };
}

/** The report as a table (or a one-line note when nothing differs and nothing was done). */
export function renderReport(input: ReportInput, indent = '  '): string {
  const { rows, inSync } = reportRows(input);
  const tail = `${inSync} open order${inSync === 1 ? '' : 's'} in sync`;
  if (rows.length === 0) return `${indent}no drift; ${tail}`;
  return `${renderTable(
    REPORT_COLUMNS,
    rows.map((r) => [r.category, r.subject, r.local, r.exchange, r.action, r.reason]),
    indent,
  )}\n${indent}(${tail})`;
}

/** `+1m05.250s` — a virtual time relative to the start of a run, stable across machines. */
export function relativeTime(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  const abs = Math.abs(ms);
  const minutes = Math.floor(abs / 60_000);
  const seconds = ((abs % 60_000) / 1000).toFixed(3).padStart(6, '0');
  return minutes > 0 ? `${sign}${minutes}m${seconds}s` : `${sign}${(abs / 1000).toFixed(3)}s`;
}
