/**
 * Ctrl-C during `demo`, with a real SIGINT sent to a child process: the demo stops within a step of virtual time,
 * says what it stopped (the chapter, the engine process, the directory), exits 130, removes the temporary state
 * directory it made, and leaves no lock in a kept `--state` directory (which then opens and shows normally).
 * Each test waits for the demo's first line before signalling, and for the exit without a tight timeout: the child
 * is slow to start on a loaded machine, never too fast to interrupt (the story takes seconds of real time).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStateStore } from '../../src/store/file-store.js';
import { MAIN, REPO, runMain } from './helpers.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tesser-interrupt-'));
});

afterAll(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/** Starts the demo, sends SIGINT once its first line is out, and resolves with what it printed and its exit code. */
function interruptDemo(
  args: readonly string[],
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'demo', ...args], {
      cwd: REPO,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      if (!sent && stdout.includes('== seed')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe.sequential('Ctrl-C during demo', () => {
  it('stops, says what it stopped, removes its temporary state directory, exits 130', async () => {
    const r = await interruptDemo(['--seed', '7']);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(130);
    expect(r.stdout).not.toMatch(/verdict:/);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^tesser-reconcile demo: interrupted \(Ctrl-C\) during ".+", at 2026-01-05T\d\d:\d\d:\d\d\.\d{3}Z in virtual time$/,
    );
    expect(lines[1]).toMatch(
      /^ {2}stopped: (engine process \d+ \(not flushed, as in a crash.*store lock released|no engine process was running)$/,
    );
    const removed = /removed the temporary state directory (\S+)$/.exec(lines[2] ?? '');
    expect(removed).not.toBeNull();
    expect(existsSync(removed![1]!)).toBe(false);
  }, 120_000);

  it('with --state DIR: keeps the directory, leaves no lock, and it opens and shows again', async () => {
    const dir = join(work, 'kept');
    const r = await interruptDemo(['--seed', '7', '--state', dir]);
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/kept the state directory .*kept \(inspect it with: tesser-reconcile state show .*kept\)/);
    expect(await readdir(dir)).not.toContain('lock');
    const shown = await runMain(['state', 'show', dir]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/lock: none/);
    // No stale lock: a writer opens it at once.
    const store = await FileStateStore.open(dir);
    await store.close();
  }, 120_000);
});
