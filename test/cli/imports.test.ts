/**
 * Only `audit` may load ccxt (about a second and 80 MB): the static import graph of the CLI entry point and of the
 * demo and state-show commands must not reach ccxt or the ccxt adapter; audit reaches it only through a dynamic
 * `import()`. Checked by reading the sources (static `import`/`export ... from` lines, followed recursively).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const STATIC_IMPORT = /^\s*(?:import|export)\s[^;]*?\sfrom\s+'([^']+)'/gm;

/** Every module reached by static imports from `entry`: relative files by path, packages by name. */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(STATIC_IMPORT)) {
      const spec = m[1]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
      else seen.add(`pkg:${spec}`);
    }
  };
  visit(resolve(SRC, entry));
  return seen;
}

const reachesCcxt = (graph: Set<string>): string[] =>
  [...graph].filter((m) => m === 'pkg:ccxt' || m.includes('/exchange/ccxt/'));

describe('ccxt is loaded by audit only', () => {
  it.each(['cli/main.ts', 'cli/demo.ts', 'cli/state-show.ts'])('%s does not reach ccxt statically', (entry) => {
    const graph = staticGraph(entry);
    expect(graph.size).toBeGreaterThan(3);
    expect(reachesCcxt(graph)).toEqual([]);
  });

  it('audit.ts reaches the ccxt adapter only through a dynamic import', () => {
    expect(reachesCcxt(staticGraph('cli/audit.ts'))).toEqual([]);
    expect(readFileSync(resolve(SRC, 'cli/audit.ts'), 'utf8')).toMatch(
      /await import\('\.\.\/exchange\/ccxt\/index\.js'\)/,
    );
  });

  it('the graph walker does see ccxt where it is imported (types included)', () => {
    expect(reachesCcxt(staticGraph('exchange/ccxt/index.ts'))).toContain('pkg:ccxt');
  });
});

describe('ccxt is an optional peer: no source file imports a ccxt value statically', () => {
  // A static value import of a missing package fails while Node links the modules, before our code could explain
  // it; ccxt-module.ts loads it through importPeer, and every other file takes types only.
  it.each([
    'exchange/ccxt/ccxt-exchange.ts',
    'exchange/ccxt/errors.ts',
    'exchange/ccxt/convert.ts',
    'exchange/ccxt/cursor.ts',
    'exchange/ccxt/ccxt-module.ts',
    'exchange/ccxt/index.ts',
  ])('%s', (file) => {
    const text = readFileSync(resolve(SRC, file), 'utf8');
    for (const m of text.matchAll(/^\s*import\s+(type\s+)?[^;]*?\sfrom\s+'ccxt'/gm)) expect(m[1], m[0]).toBe('type ');
  });
});
