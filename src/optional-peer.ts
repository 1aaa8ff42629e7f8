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

/** A feature needs an optional peer dependency that is not installed. `installCommand` says how to add it. */
export class MissingPeerDependencyError extends TesserError {
  override readonly name = 'MissingPeerDependencyError' as const;
  readonly code = 'missingPeerDependency' as const;
  constructor(
    readonly peer: OptionalPeer,
    readonly feature: string,
    readonly installCommand: string,
    options?: { cause?: unknown },
  ) {
    super(`${feature} needs the optional peer dependency ${peer}, which is not installed: run \`${installCommand}\``, options);
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
 * `import(name)`, or a MissingPeerDependencyError when the package is not installed. Any other failure (the
 * package is there but broken) is rethrown as it is.
 */
export async function importPeer<T>(name: OptionalPeer, feature: string): Promise<T> {
  try {
    // A variable specifier: nothing bundles or resolves the peer before this line runs.
    const specifier: string = name;
    return (await import(specifier)) as T;
  } catch (e) {
    if (isMissingPackage(e, name)) throw new MissingPeerDependencyError(name, feature, `npm install ${name}@${OPTIONAL_PEERS[name]}`, { cause: e });
    throw e;
  }
}
