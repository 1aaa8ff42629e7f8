/**
 * `tesser-reconcile state show DIR`: what an engine would find in its state directory on restart, human-readable
 * (balances, positions, open orders, history cursors, lifecycle, handler memory, then the journal records not yet
 * folded into the snapshot, one a line) or as one JSON object with `--json`. Read-only: see state-dir.ts.
 */
import { isoTime } from '../domain/clock.js';
import { compareStrings } from '../domain/compare.js';
import { amountToString } from '../domain/decimal.js';
import type { Order } from '../domain/types.js';
import { StoreCorruptError } from '../domain/errors.js';
import { decodeEngineState, type DecodedEngineState } from '../engine/state-file.js';
import type { Portfolio } from '../portfolio/portfolio.js';
import { orderTableObjects } from '../portfolio/portfolio-json.js';
import type { JsonValue } from '../store/port.js';
import type { CliIO } from './io.js';
import { renderTable } from './render.js';
import { readStateDirPartially } from './state-dir.js';

export interface StateShowOptions {
  readonly dir: string;
  readonly json: boolean;
}

export { isoTime };

/** A scalar field as text ('' when absent or not a scalar): a journal line never throws on an odd record. */
function field(r: Record<string, unknown>, key: string): string {
  const v = r[key];
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

/** What a `delta` record changed, counted (its content can be thousands of entries). */
function deltaSummary(r: Record<string, unknown>): string {
  const count = (o: unknown, key: string): number => {
    const v = typeof o === 'object' && o !== null ? (o as Record<string, unknown>)[key] : undefined;
    return Array.isArray(v) ? v.length : 0;
  };
  const p = r.portfolio;
  const parts = [
    ['orders', count(p, 'orders')],
    ['orders dropped', count(p, 'removedOrders')],
    ['trades', count((p as Record<string, unknown> | undefined)?.appliedTrades, 'added')],
    ['funding payments', count((p as Record<string, unknown> | undefined)?.appliedFundingIds, 'added')],
    ['balances', count(p, 'balances')],
    ['positions', count(p, 'positions')],
    ['trade cursors', count(r.cursors, 'trades')],
    ['ghost actors', count(r.handlerActors, 'ghosts')],
    ['drift actors', count(r.handlerActors, 'drift')],
  ] as const;
  const said = parts.filter(([, n]) => n > 0).map(([what, n]) => `${n} ${what}`);
  return said.length === 0 ? 'small parts only' : said.join(', ');
}

/** One journal record as one line: what it is, when, and its main facts. Unknown shapes fall back to JSON. */
export function journalLine(rec: JsonValue, index: number): string {
  const n = `${String(index + 1).padStart(3)}.`;
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) return `${n} ${JSON.stringify(rec)}`;
  const r = rec as Record<string, unknown>;
  const at = typeof r.at === 'number' ? isoTime(r.at) : '';
  switch (r.kind) {
    case 'order': {
      const o = (typeof r.order === 'object' && r.order !== null ? r.order : {}) as Record<string, unknown>;
      const price = o.price === undefined ? 'market' : `@ ${field(o, 'price')}`;
      const xid = o.exchangeOrderId === undefined ? '' : ` #${field(o, 'exchangeOrderId')}`;
      const why = r.reason === undefined ? '' : ` (${field(r, 'reason')})`;
      return `${n} ${at} order ${field(r, 'event')}: ${field(o, 'clientOrderId')}${xid} ${field(o, 'side')} ${field(o, 'quantity')} ${field(o, 'symbol')} ${price}, ${field(o, 'status')} ${field(o, 'filledQuantity')}${why}`;
    }
    case 'lifecycle': {
      const l = r.liquidateOnly as Record<string, unknown> | null | undefined;
      return `${n} ${at} lifecycle: ${l === null || l === undefined ? 'left liquidate-only' : `entered liquidate-only (${field(l, 'reason')})`}`;
    }
    case 'cycle':
      return `${n} ${at} ${field(r, 'handler')} cycle ${field(r, 'cycle')}: ${JSON.stringify(r.summary ?? {})}`;
    case 'delta':
    case 'resetDelta':
      return `${n} ${at} ${r.kind}: ${deltaSummary(r)}`;
    default: {
      const { kind, ...rest } = r;
      return `${n} ${at === '' ? '' : `${at} `}${String(kind)}: ${JSON.stringify(rest)}`;
    }
  }
}

/**
 * The portfolio as `--json` shows it: `toJSON()`, its orders a list of objects (one per order, with the fields it has)
 * where the state file saves them as a table, so that a reader can select them by field (`jq '.portfolio.orders[]'`).
 */
function portfolioView(p: Portfolio): Record<string, unknown> {
  const j = p.toJSON();
  return { ...j, orders: orderTableObjects(j.orders) };
}

function orderRow(o: Order): string[] {
  return [
    o.clientOrderId,
    o.exchangeOrderId ?? '-',
    o.symbol,
    `${o.side} ${o.type}`,
    amountToString(o.quantity),
    o.price === undefined ? '-' : amountToString(o.price),
    amountToString(o.filledQuantity),
    o.status,
    isoTime(o.createdAt),
  ];
}

/**
 * Prints the state directory; resolves with the exit code. A corrupt directory is shown as far as it can be read
 * (the snapshot if it decodes, the journal records before the bad line), then the StoreCorruptError naming the bad
 * file and line is thrown (exit 1), as the engine would refuse to start on it. @throws StateDirError, StoreCorruptError
 */
export async function runStateShow(options: StateShowOptions, io: CliIO): Promise<number> {
  const contents = await readStateDirPartially(options.dir);
  let corrupt = contents.corrupt;
  // The engine's own decoder: what is shown is what a restart would load (journal replayed over the snapshot).
  // Content the engine would refuse (a snapshot that is not engine state) counts as corrupt too.
  let state: DecodedEngineState;
  try {
    state = decodeEngineState(contents.loaded);
  } catch (e) {
    if (!(e instanceof StoreCorruptError)) throw e;
    corrupt ??= e;
    state = decodeEngineState(undefined);
  }
  const finish = (): number => {
    if (corrupt !== undefined) throw corrupt;
    return 0;
  };
  const snapshot = contents.loaded?.snapshot as Record<string, unknown> | undefined;
  const savedAt = typeof snapshot?.savedAt === 'number' ? snapshot.savedAt : undefined;
  // The raw records, not the replayed result: the journal is the audit trail of what happened since the snapshot.
  const journal = contents.loaded?.journal ?? [];
  // The store's findings plus the decoder's (a skipped journal record).
  const warnings = state.warnings;

  if (options.json) {
    io.out(
      JSON.stringify(
        {
          dir: contents.dir,
          fresh: state.fresh,
          files: contents.files,
          savedAt: savedAt ?? null,
          lifecycle: state.lifecycle,
          exchange: state.exchange ?? null,
          portfolio: state.portfolio === undefined ? null : portfolioView(state.portfolio),
          equityAtSave:
            state.equityAtSave === undefined
              ? null
              : {
                  equity: state.equityAtSave.equity?.toFixed() ?? null,
                  drawdown: state.equityAtSave.drawdown?.toFixed() ?? null,
                },
          cursors: state.cursors,
          memory: state.memory.toJSON(),
          journal,
          replayed: state.replayed,
          warnings,
          corrupt:
            corrupt === undefined ? null : { file: corrupt.file, line: corrupt.line ?? null, message: corrupt.message },
        },
        null,
        2,
      ),
    );
    return finish();
  }

  const out = (s = ''): void => io.out(s);
  out(`state directory: ${contents.dir}`);
  const f = contents.files;
  out(
    `  snapshot.json: ${f.snapshot === undefined ? 'none' : `${f.snapshot.bytes} bytes, covers journal records up to seq ${f.snapshot.journalSeq}`}`,
  );
  out(
    `  journal.jsonl: ${f.journal === undefined ? 'none' : `${f.journal.bytes} bytes, ${f.journal.records} record(s) after the snapshot`}`,
  );
  out(`  lock: ${f.lockPid === undefined ? 'none' : `held by pid ${f.lockPid} (or left by a process that died)`}`);
  for (const w of warnings) out(`  warning: ${w}`);
  if (corrupt !== undefined) {
    out(`  CORRUPT: ${corrupt.message}`);
    out('  shown below: only what could be read before it (an engine refuses to start here; see docs/operations.md)');
  }
  if (state.fresh && corrupt === undefined) {
    out('');
    out('empty: nothing was ever saved here; an engine starting on it builds its books from the exchange.');
    return 0;
  }
  out(`  saved at: ${savedAt === undefined ? 'never compacted (journal only)' : isoTime(savedAt)}`);
  const lo = state.lifecycle.liquidateOnly;
  out(`  lifecycle: ${lo === null ? 'normal (not liquidate-only)' : `liquidate-only: ${lo.reason}`}`);
  const x = state.exchange;
  out(
    `  exchange account: ${x === undefined ? 'not recorded (written before accounts were; the next snapshot records it)' : `${x.account ?? 'unknown account'} on ${x.venue}`}`,
  );
  out(`  journal records replayed over the snapshot: ${state.replayed}`);

  const book = state.portfolio;
  if (book === undefined) {
    out('');
    out('portfolio: none saved yet (the first startup reconciliation had not finished).');
  } else {
    out('');
    out('balances:');
    out(
      renderTable(
        [{ header: 'asset' }, { header: 'total', align: 'right' }, { header: 'free', align: 'right' }],
        book.balances().map((b) => [b.asset, amountToString(b.total), amountToString(b.free)]),
        '  ',
      ),
    );
    out('');
    // A flat position is no position: listing it would only say "0".
    const positions = book.positions().filter((p) => !p.quantity.isZero());
    out(positions.length === 0 ? 'positions: none' : 'positions:');
    if (positions.length > 0) {
      out(
        renderTable(
          [{ header: 'symbol' }, { header: 'quantity', align: 'right' }, { header: 'entry price', align: 'right' }],
          positions.map((p) => [p.symbol, amountToString(p.quantity), amountToString(p.entryPrice)]),
          '  ',
        ),
      );
    }
    out('');
    const open = book.openOrders();
    out(open.length === 0 ? 'open orders: none' : `open orders (${open.length}):`);
    if (open.length > 0) {
      out(
        renderTable(
          ['client id', 'exchange id', 'symbol', 'side/type', 'quantity', 'price', 'filled', 'status', 'created'].map(
            (header) => ({ header }),
          ),
          open.map(orderRow),
          '  ',
        ),
      );
    }
    // Terminal orders stay tracked for a while (so a late trade still finds its order); only their count matters here.
    const closed = book.orders().length - open.length;
    out(`closed orders still tracked: ${closed}`);
    out(
      `realized PnL: ${amountToString(book.realizedPnl)}; peak equity: ${amountToString(book.peakEquity)} ${book.reportingAsset}`,
    );
    // Equity moves with prices: what is stored is the last mark before the save, dated by it; the peak is what lasts.
    const e = state.equityAtSave;
    const when = savedAt === undefined ? '' : ` (last marked before the save at ${isoTime(savedAt)})`;
    if (e === undefined) out('equity: not saved (marked by a running engine from current prices)');
    else if (e.equity === null) out(`equity: not marked at the last save (something held had no price)${when}`);
    else
      out(
        `equity: ${amountToString(e.equity)} ${book.reportingAsset}; drawdown from the peak: ${e.drawdown === null ? '-' : `${amountToString(e.drawdown.times(100))} %`}${when}`,
      );
  }

  out('');
  const trades = Object.entries(state.cursors.trades).sort(([a], [b]) => compareStrings(a, b));
  const cursorRows = trades.map(([symbol, c]) => [`trades ${symbol}`, isoTime(c.since), String(c.seenIds.length)]);
  if (state.cursors.funding !== undefined)
    cursorRows.push(['funding', isoTime(state.cursors.funding.since), String(state.cursors.funding.seenIds.length)]);
  out(cursorRows.length === 0 ? 'history cursors: none yet' : 'history cursors:');
  if (cursorRows.length > 0)
    out(
      renderTable(
        [{ header: 'history' }, { header: 'consumed up to' }, { header: 'ids at that ms' }],
        cursorRows,
        '  ',
      ),
    );
  const memory = state.memory.toJSON();
  out(`handler memory: ${memory.ghosts.length} ghost(s) awaiting confirmation, ${memory.drift.length} drift streak(s)`);
  for (const g of memory.ghosts)
    out(
      `  ghost ${g.clientOrderId ?? g.exchangeOrderId ?? g.key} (${g.symbol}): first seen ${isoTime(g.firstSeenAt)}, not found ${g.notFound} time(s) in a row`,
    );
  for (const d of memory.drift) out(`  drift ${d.kind} ${d.key}: ${d.cycles} cycle(s) in a row`);

  out('');
  out(
    journal.length === 0
      ? 'journal: empty (everything is in the snapshot)'
      : `journal (${journal.length} record(s) after the snapshot):`,
  );
  journal.forEach((r, i) => out(`  ${journalLine(r, i)}`));
  return finish();
}
