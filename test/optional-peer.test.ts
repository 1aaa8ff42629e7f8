/**
 * The optional peers: the ranges the error messages name are the ones package.json declares, a missing package gives
 * ONE MissingPeerDependencyError listing every missing peer with one install command, and a present peer loads.
 * (The end-to-end case, `tesser-reconcile/ccxt` imported where ccxt is not installed, runs in .ci/run on the packed
 * tarball: in this repository ccxt is always installed.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MissingPeerDependencyError,
  OPTIONAL_PEERS,
  importPeer,
  importPeers,
  type OptionalPeer,
} from '../src/optional-peer.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  dependencies: Record<string, string>;
};

describe('optional peers', () => {
  it('are exactly the optional peerDependencies of package.json, with the same ranges, and not dependencies', () => {
    expect(OPTIONAL_PEERS).toEqual(pkg.peerDependencies);
    for (const name of Object.keys(OPTIONAL_PEERS)) {
      expect(pkg.peerDependenciesMeta[name]?.optional).toBe(true);
      expect(pkg.dependencies).not.toHaveProperty(name);
    }
  });

  it('a missing package is one error naming every missing peer and one install command', async () => {
    // A name that is not installed, standing in for a peer (the type only admits the real ones).
    const missing = 'tesser-no-such-package' as OptionalPeer;
    const error = await importPeers([missing, 'ws'], 'the feature').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPeerDependencyError);
    const e = error as MissingPeerDependencyError;
    expect(e.name).toBe('MissingPeerDependencyError');
    expect(e.code).toBe('missingPeerDependency');
    expect(e.peers).toEqual([missing]);
    expect(e.message).toMatch(
      /^the feature needs the optional peer dependency tesser-no-such-package, not installed: run `npm install tesser-no-such-package@undefined`$/,
    );
    expect((e.cause as { code?: string }).code).toBe('ERR_MODULE_NOT_FOUND');
  });

  it('names both peers and the command that installs both', () => {
    const e = new MissingPeerDependencyError(['ws', '@statelyai/inspect'], 'the inspector (--inspect)');
    expect(e.installCommand).toBe('npm install ws@^8.23.0 @statelyai/inspect@^0.7.2');
    expect(e.message).toBe(
      'the inspector (--inspect) needs the optional peer dependencies ws and @statelyai/inspect, not installed: run `npm install ws@^8.23.0 @statelyai/inspect@^0.7.2`',
    );
  });

  it('an installed peer loads', async () => {
    const ws = await importPeer<{ WebSocketServer?: unknown; default?: { WebSocketServer?: unknown } }>('ws', 'test');
    expect(ws.WebSocketServer ?? ws.default?.WebSocketServer).toBeTypeOf('function');
  });
});
