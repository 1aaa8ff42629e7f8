/**
 * Reads an engine state directory WITHOUT opening it as a store: no directory is created, no lock is taken, no
 * torn tail is repaired. `FileStateStore.open` does all three (it is the writer's entry point), which an
 * inspection command must not do: `state show` and `audit` work beside a running engine and leave the directory
 * byte for byte as they found it. The files are decoded by the store's own codec, so what is read is exactly what
 * `FileStateStore.load()` would return.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TesserError } from '../domain/errors.js';
import { decodeJournal, decodeSnapshot } from '../store/codec.js';
import { STORE_FILES } from '../store/file-store.js';
import type { JsonValue, LoadedState } from '../store/port.js';

/** The directory is missing or is not a directory (a runtime failure of the command, exit code 1). */
export class StateDirError extends TesserError {
  override readonly name = 'StateDirError' as const;
}

export interface StateDirContents {
  /** Absolute path. */
  readonly dir: string;
  /** What `FileStateStore.load()` would return (undefined: nothing stored yet). */
  readonly loaded: LoadedState | undefined;
  readonly files: {
    readonly snapshot: { readonly bytes: number; readonly journalSeq: number } | undefined;
    readonly journal: { readonly bytes: number; readonly records: number } | undefined;
    /** The pid in the lock file, when a writer holds (or held) the directory. */
    readonly lockPid: string | undefined;
  };
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateDirError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Loads a state directory read-only.
 * @throws StateDirError when it does not exist or is not a directory; StoreCorruptError (naming file and line)
 *   when a file is corrupt.
 */
export async function readStateDir(dir: string): Promise<StateDirContents> {
  const abs = resolve(dir);
  let isDir: boolean;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch {
    throw new StateDirError(`state directory ${abs} does not exist`);
  }
  if (!isDir) throw new StateDirError(`${abs} is not a directory`);
  const snapPath = join(abs, STORE_FILES.snapshot);
  const journalPath = join(abs, STORE_FILES.journal);
  const snapBytes = await readOptional(snapPath);
  const snapshot = snapBytes === undefined ? undefined : decodeSnapshot(snapBytes, snapPath);
  const journalBytes = await readOptional(journalPath);
  const journal = decodeJournal(journalBytes ?? Buffer.alloc(0), journalPath, snapshot?.journalSeq);
  const warnings = journal.tornWarning === undefined ? [] : [journal.tornWarning];
  const lock = await readOptional(join(abs, STORE_FILES.lock));
  // The same rule as FileStateStore.load(): nothing at all (and nothing torn) is an empty store.
  const empty = snapshot === undefined && journal.records.length === 0 && warnings.length === 0;
  return {
    dir: abs,
    loaded: empty ? undefined : { snapshot: snapshot?.state, journal: journal.records as JsonValue[], warnings },
    files: {
      snapshot: snapshot === undefined ? undefined : { bytes: snapBytes!.length, journalSeq: snapshot.journalSeq },
      journal: journalBytes === undefined ? undefined : { bytes: journalBytes.length, records: journal.records.length },
      lockPid: lock === undefined ? undefined : lock.toString('utf8').trim(),
    },
  };
}
