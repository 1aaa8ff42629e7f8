/**
 * Tests of inspection: the offline log observer, and the opt-in loopback inspector server (events relayed to a
 * viewer, loopback-only binding, a clean stop that lets Node exit, checked in a child process).
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createActor } from 'xstate';
import { engineMachine } from '../../machines/engine.machine.js';
import { createMemoryLogger } from '../../src/logging/logger.js';
import { logInspection, startInspectorServer } from '../../src/logging/inspect.js';

const until = async (cond: () => boolean, what: string, ms = 5000): Promise<void> => {
  // Real sockets: poll in real time, bounded.
  for (let waited = 0; !cond(); waited += 10) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('logInspection', () => {
  it('writes a debug line per machine state change, offline', async () => {
    const { logger, lines } = createMemoryLogger();
    const actor = createActor(engineMachine, { input: {}, inspect: logInspection(logger) });
    actor.subscribe({ error: () => undefined });
    actor.start();
    await new Promise((r) => setImmediate(r));
    const values = lines.filter((l) => l['event'] === 'actor.snapshot').map((l) => l['value']);
    // The unprovided loadState fails the boot: loading, then failed.
    expect(values).toEqual(['loading', 'failed']);
    expect(lines[0]).toMatchObject({ component: 'inspect', level: 20 });
  });
});

describe('startInspectorServer', () => {
  it('refuses a non-loopback host', async () => {
    await expect(startInspectorServer({ host: '0.0.0.0' as '127.0.0.1' })).rejects.toThrow(/loopback/);
  });

  it('relays inspection events of an engine actor to a viewer and to the hook, on loopback only, then stops', async () => {
    const hooked: { type?: string }[] = [];
    const server = await startInspectorServer({ onEvent: (e) => hooked.push(e as { type?: string }) });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      expect(server.port).toBeGreaterThan(0);

      // A viewer connects first, so it receives events live.
      const { WebSocket } = (await import('ws' as string)) as { WebSocket: new (url: string) => any };
      const viewer = new WebSocket(server.wsUrl);
      const relayed: { type?: string }[] = [];
      viewer.on('message', (d: unknown) => relayed.push(JSON.parse(String(d))));
      await new Promise((resolve, reject) => {
        viewer.once('open', resolve);
        viewer.once('error', reject);
      });

      const actor = createActor(engineMachine, { input: {}, inspect: server.inspect });
      actor.subscribe({ error: () => undefined });
      actor.start();
      await until(
        () => relayed.some((e) => e.type === '@xstate.snapshot') && hooked.some((e) => e.type === '@xstate.snapshot'),
        'a relayed snapshot',
      );
      expect(relayed.some((e) => e.type === '@xstate.actor')).toBe(true);
      actor.stop();

      // The page is served, pointing at our websocket.
      const page = await new Promise<string>((resolve, reject) => {
        http
          .get(server.url, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
      expect(page).toContain(server.wsUrl);

      // Not reachable on a non-loopback address of this machine (when it has one).
      const external = Object.values(networkInterfaces())
        .flat()
        .find((i) => i !== undefined && i.family === 'IPv4' && !i.internal);
      if (external !== undefined) {
        const reached = await new Promise<boolean>((resolve) => {
          const req = http.get({ host: external.address, port: server.port, timeout: 1000 }, () => resolve(true));
          req.on('error', () => resolve(false));
          req.on('timeout', () => {
            req.destroy();
            resolve(false);
          });
        });
        expect(reached).toBe(false);
      }
      viewer.terminate();
    } finally {
      await server.stop();
      await server.stop();
    }
  });

  it('after stop(), nothing keeps Node alive (checked in a child process that must exit by itself)', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/inspect-child.ts', import.meta.url))],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | string>((resolve) => {
      // The guard: a child still alive after this long was kept alive by a leftover handle.
      const guard = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 20_000);
      child.on('exit', (c) => {
        clearTimeout(guard);
        resolve(c ?? 'signal');
      });
    });
    expect(code, err).toBe(0);
    const summary = JSON.parse(out.trim()) as { events: number; snapshots: number; url: string };
    expect(summary.snapshots).toBeGreaterThan(0);
    expect(summary.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, 30_000);
});
