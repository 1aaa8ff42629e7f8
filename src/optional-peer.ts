/**
 * Loads an optional peer dependency (ccxt for `tesser-reconcile/ccxt`; @statelyai/inspect and ws for the CLI's
 * `--inspect`). They are peers, not dependencies, so a bot that never talks to a real exchange does not install
 * 60 MB of ccxt; when one is missing, the feature that needs it fails with ONE error naming the install command,
 * instead of Node's "Cannot find package" from deep inside our files.
 */
import { TesserError } from './domain/errors.js';

/** The optional peers and the version range this package is tested with (kept equal to package.json). */
export const OPTIONAL_PEERS = {
  ccxt: '^4.5.84',
  '@statelyai/inspect': '^0.7.2',
  ws: '^8.23.0',
} as const;
export type OptionalPeer = keyof typeof OPTIONAL_PEERS;

/** A feature needs optional peer dependencies that are not installed. `installCommand` adds all of them at once. */
export class MissingPeerDependencyError extends TesserError {
  override readonly name = 'MissingPeerDependencyError' as const;
  readonly code = 'missingPeerDependency' as const;
  /** `npm install ccxt@^4.5.84` (every missing peer, with the range this package is tested with). */
  readonly installCommand: string;
  constructor(
    readonly peers: readonly OptionalPeer[],
    readonly feature: string,
    options?: { cause?: unknown },
  ) {
    const command = `npm install ${peers.map((p) => `${p}@${OPTIONAL_PEERS[p]}`).join(' ')}`;
    super(
      `${feature} needs the optional peer ${peers.length === 1 ? 'dependency' : 'dependencies'} ${peers.join(' and ')}, not installed: run \`${command}\``,
      options,
    );
    this.installCommand = command;
  }
}

/** True when `e` says that package `name` itself (not something it imports) cannot be found. */
function isMissingPackage(e: unknown, name: string): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND') return false;
  // Node: "Cannot find package 'ccxt' imported from /app/node_modules/tesser-reconcile/dist/..."
  return String((e as Error).message).includes(`'${name}'`);
}

/**
 * Imports each of `names`; when some are not installed, ONE MissingPeerDependencyError lists them all (so one
 * install command fixes it). Any other failure (a package is there but broken) is rethrown as it is.
 */
export async function importPeers(names: readonly OptionalPeer[], feature: string): Promise<unknown[]> {
  // A variable specifier: nothing bundles or resolves a peer before this line runs.
  const results = await Promise.allSettled(names.map((name: string) => import(name)));
  const missing = names.filter(
    (name, i) => results[i]?.status === 'rejected' && isMissingPackage(results[i].reason, name),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (missing.length > 0) throw new MissingPeerDependencyError(missing, feature, { cause: failed?.reason });
  if (failed !== undefined) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value);
}

/** `import(name)` of one optional peer (see `importPeers`). */
export async function importPeer<T>(name: OptionalPeer, feature: string): Promise<T> {
  const [mod] = await importPeers([name], feature);
  return mod as T;
}
