/**
 * The exchange matrix: every ccxt exchange id assessed offline (a bare instance, no keys, no network) by the same
 * `assessExchange` the adapter's constructor applies, and rendered as the table of docs/exchanges.md
 * (`npm run docs` regenerates it; test/docs checks it is not stale).
 */
import type { Exchange } from 'ccxt';
import { ccxtLib } from './ccxt-module.js';
import { assessExchange, type ExchangeAssessment, type KindPlan } from './capabilities.js';
import { quirksOf } from './quirks.js';

/** Every ccxt exchange id, assessed, in ccxt's order (alphabetical). */
export function exchangeMatrix(): ExchangeAssessment[] {
  const ctors = ccxtLib.default as unknown as Record<string, new () => Exchange>;
  return ccxtLib.default.exchanges
    .filter((id) => ctors[id] !== undefined)
    .map((id) => assessExchange(new (ctors[id] as new () => Exchange)()));
}

/** The installed ccxt's version (the matrix is a function of it). */
export function ccxtVersion(): string {
  return (ccxtLib.default as unknown as { version: string }).version;
}

const cell = (p: KindPlan): string => (p.usable ? 'yes' : 'no');

/** The markdown body of the matrix block: counts, then one row per exchange id. */
export function exchangeMatrixMarkdown(rows: readonly ExchangeAssessment[], version: string): string {
  const usable = rows.filter((r) => r.usable);
  const both = usable.filter((r) => r.spot.usable && r.perp.usable).length;
  const spotOnly = usable.filter((r) => r.spot.usable && !r.perp.usable).length;
  const perpOnly = usable.filter((r) => !r.spot.usable && r.perp.usable).length;
  const lines = [
    `<!-- generated from ccxt ${version}'s \`has\` by \`npm run docs\` (src/exchange/ccxt/matrix.ts); do not edit by hand -->`,
    `ccxt ${version}: **${usable.length} of ${rows.length}** exchange ids usable (${both} for spot and perpetuals, ${spotOnly} spot only, ${perpOnly} perpetuals only).`,
    '',
    '| exchange | spot | perpetuals | wallet | fallbacks used | emulated by ccxt | missing |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const plans = [r.spot, r.perp].filter((p): p is Extract<KindPlan, { usable: true }> => p.usable);
    const fallbacks = [...new Set(plans.flatMap((p) => p.fallbacks))];
    const emulated = [...new Set(plans.flatMap((p) => p.emulated))];
    const missing = [
      ...(r.spot.usable ? [] : [`spot: ${r.spot.missing.join(', ')}`]),
      ...(r.perp.usable ? [] : [`perpetuals: ${r.perp.missing.join(', ')}`]),
    ];
    const account =
      quirksOf(r.id).account ?? (r.spot.usable && r.perp.usable ? 'unknown: set `accountKind` to trade both' : '');
    lines.push(
      `| ${r.id} | ${cell(r.spot)} | ${cell(r.perp)} | ${account} | ${fallbacks.join('; ')} | ${emulated.join(', ')} | ${missing.join('; ')} |`,
    );
  }
  return lines.join('\n');
}
