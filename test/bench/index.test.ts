import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const INDEX = fileURLToPath(new URL('../../bench/index.ts', import.meta.url));
const RESULT = fileURLToPath(new URL('../../bench/results/diff.json', import.meta.url));

/** `npm run bench -- ...args` as a child process; the test's timeout bounds it. */
function bench(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', INDEX, ...args], { cwd: REPO }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number')
        reject(new Error(`the bench could not run: ${error.message}`));
      else resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr });
    });
  });
}

describe('npm run bench', () => {
  it('refuses a misspelled flag with exit code 2, running nothing and writing no result', async () => {
    const before = statSync(RESULT).mtimeMs;
    const r = await bench(['--only', 'diff', '--sizes', '1000', '--no-wirte']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown flag '--no-wirte'");
    expect(r.stdout).not.toContain('== diff');
    expect(statSync(RESULT).mtimeMs).toBe(before);
  });

  it('lists each bench with the flags it reads', async () => {
    const r = await bench(['--list']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^diff .*\n\s+flags: --sizes --runs --against --no-write$/m);
  });
});
