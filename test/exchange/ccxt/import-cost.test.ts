/**
 * Importing the package root must not load ccxt (about a second and 80 MB); only the `./ccxt` subpath does.
 * Each import runs in a fresh child process whose module-resolution hook lists every module loaded.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../../', import.meta.url));
const probe = fileURLToPath(new URL('./fixtures/loaded-modules.mjs', import.meta.url));

async function loadedBy(entry: string): Promise<{ ms: number; rssMb: number; urls: string[] }> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', probe, entry], { cwd: root, timeout: 60_000 });
  return JSON.parse(stdout) as { ms: number; rssMb: number; urls: string[] };
}

const isCcxt = (u: string): boolean => u.includes('/node_modules/ccxt/');

describe('import cost', () => {
  it('the package root (src/index.ts) loads no ccxt module', async () => {
    const r = await loadedBy('src/index.ts');
    expect(r.urls).toContain(new URL('src/index.ts', `file://${root}`).href);
    expect(r.urls.filter(isCcxt)).toEqual([]);
    console.log(`import src/index.ts: ${r.ms.toFixed(0)} ms, +${r.rssMb.toFixed(1)} MB rss, ${r.urls.length} modules`);
  });

  it('the ./ccxt subpath does load ccxt (the probe can see it)', async () => {
    const r = await loadedBy('src/exchange/ccxt/index.ts');
    expect(r.urls.some(isCcxt)).toBe(true);
    console.log(
      `import src/exchange/ccxt/index.ts: ${r.ms.toFixed(0)} ms, +${r.rssMb.toFixed(1)} MB rss, ${r.urls.length} modules`,
    );
  });
});
