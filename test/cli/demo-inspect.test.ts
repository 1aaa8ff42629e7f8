/**
 * `demo --inspect` as a person uses it, in process: a viewer connects to the relay the demo announces, watches the
 * story paced in wall-clock time (the pacing goes through the injected `sleep`, so no test waits for real), finds
 * the lifecycle machine's snapshots of every engine process, and the relay stays open after the story until Ctrl-C.
 */
import { describe, expect, it } from 'vitest';
import { INSPECT_SPEEDUP, STORY_WALL_SECONDS } from '../../src/cli/demo.js';
import { main } from '../../src/cli/main.js';
import { connectViewer, lifecyclePhases, type Relayed } from '../support/inspect-viewer.js';

describe('demo --inspect', () => {
  it('paces the story, relays every lifecycle transition to a viewer, and keeps the relay open until Ctrl-C', async () => {
    const controller = new AbortController();
    const relayed: Relayed[] = [];
    const err: string[] = [];
    const out: string[] = [];
    let viewerClosed = false;
    let slept = 0;
    let openAfterStory: boolean | undefined;
    let markViewerReady: () => void = () => undefined;
    const viewerReady = new Promise<void>((resolve) => (markViewerReady = resolve));

    const run = main(['demo', '--seed', '1', '--inspect'], {
      out: (line) => out.push(line),
      err: (line) => {
        err.push(line);
        const url = /^inspector: open http:\/\/127\.0\.0\.1:(\d+) /.exec(line);
        if (url !== null) {
          // The viewer (the page's websocket) connects before the story's first step is paced.
          void connectViewer(`ws://127.0.0.1:${url[1]}`, (e) => relayed.push(e)).then((v) => {
            (v as unknown as { once(e: 'close', f: () => void): void }).once('close', () => (viewerClosed = true));
            markViewerReady();
          });
        }
        if (line.includes('the relay stays open at')) {
          openAfterStory = !viewerClosed;
          // Ctrl-C, as the person watching would press it.
          setImmediate(() => controller.abort());
        }
      },
      env: {},
      signal: controller.signal,
      sleep: async (ms) => {
        await viewerReady;
        slept += ms;
      },
    });
    const code = await run;

    expect(code).toBe(0);
    expect(openAfterStory).toBe(true);
    expect(viewerClosed).toBe(true);
    // The paced wall-clock time is the story's virtual time over the speed-up, as the closing line says.
    const closing = err.find((l) => l.includes('the relay stays open at'))!;
    const [, virtualS, wallS] = /\((\d+) s of virtual time, (\d+) s of wall-clock time\)/.exec(closing)!;
    expect(Math.round(slept / 1000)).toBe(Number(wallS));
    expect(Math.abs(slept * INSPECT_SPEEDUP - Number(virtualS) * 1000)).toBeLessThanOrEqual(1000);
    // The opening line's estimate holds for this seed.
    expect(
      err.some((l) =>
        l.startsWith(
          `inspector: the story plays at ${INSPECT_SPEEDUP}x wall-clock speed (about ${STORY_WALL_SECONDS} s;`,
        ),
      ),
    ).toBe(true);
    expect(Math.abs(Number(wallS) - STORY_WALL_SECONDS)).toBeLessThanOrEqual(5);

    // Every transition the story prints (both engine processes: the one that crashes and the one that restarts) is
    // in the relayed snapshots of the lifecycle machine, in the same order.
    const printed = out.flatMap((l) => /lifecycle: \S+ -> (\S+)/.exec(l)?.[1] ?? []);
    expect(printed).toContain('liquidateOnly');
    expect(printed.filter((p) => p === 'loading')).toHaveLength(2);
    const watched = lifecyclePhases(relayed).filter((p, i, all) => i === 0 || all[i - 1] !== p);
    expect(watched).toEqual(printed);
  }, 60_000);
});
