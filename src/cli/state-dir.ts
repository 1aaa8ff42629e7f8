/**
 * Reads an engine state directory WITHOUT opening it as a store: no directory is created, no lock is taken, no
 * torn tail is repaired. `FileStateStore.open` does all three (it is the writer's entry point), which an
 * inspection command must not do: `state show` and `audit` work beside a running engine and leave the directory
 * byte for byte as they found it. The files are decoded by the store's own codec, so what is read is exactly what
 * `FileStateStore.load()` would return.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readdir } from 'node:fs/promises';
import { StoreCorruptError, TesserError } from '../domain/errors.js';
import { decodeJournal, decodeSnapshot } from '../store/codec.js';
import { STORE_FILES } from '../store/file-store.js';
import type { JsonValue, LoadedState } from '../store/port.js';

/** The directory is missing, is not a directory, or is not a state directory (a runtime failure, exit code 1). */
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
  /**
   * Only from `readStateDirPartially`: the first corrupt file (error naming file and line). `loaded` then holds
   * what could be read: the snapshot if it decoded, and the journal records before the bad line.
   */
  readonly corrupt?: StoreCorruptError | undefined;
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
 * @throws StateDirError when it does not exist, is not a directory, or holds files but none of a state directory;
 *   StoreCorruptError (naming file and line) when a file is corrupt.
 */
export async function readStateDir(dir: string): Promise<StateDirContents> {
  const contents = await readStateDirPartially(dir);
  if (contents.corrupt !== undefined) throw contents.corrupt;
  return contents;
}

/**
 * Like `readStateDir`, but a corrupt file does not hide the rest: the result holds what could be read and, in
 * `corrupt`, the error naming the bad file and line (`state show` prints both). @throws StateDirError
 */
export async function readStateDirPartially(dir: string): Promise<StateDirContents> {
  if (dir === '') throw new StateDirError('the state directory path is empty');
  const abs = resolve(dir);
  let isDir: boolean;
  try {
    isDir = (await stat(abs)).isDirectory();
  } catch {
    throw new StateDirError(`state directory ${abs} does not exist`);
  }
  if (!isDir) throw new StateDirError(`${abs} is not a directory`);
  const names = await readdir(abs);
  const ours = new Set<string>(Object.values(STORE_FILES));
  // An empty directory is a fresh state directory; one with files but none of ours is something else (a typo'd path).
  if (names.length > 0 && !names.some((n) => ours.has(n))) {
    throw new StateDirError(
      `${abs} is not a state directory: it holds ${names.length} file(s) but no ${STORE_FILES.snapshot}, ${STORE_FILES.journal} or ${STORE_FILES.lock}`,
    );
  }
  const snapPath = join(abs, STORE_FILES.snapshot);
  const journalPath = join(abs, STORE_FILES.journal);
  let corrupt: StoreCorruptError | undefined;
  const keep = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch (e) {
      if (!(e instanceof StoreCorruptError)) throw e;
      corrupt ??= e;
      return undefined;
    }
  };
  const snapBytes = await readOptional(snapPath);
  const snapshot = snapBytes === undefined ? undefined : keep(() => decodeSnapshot(snapBytes, snapPath));
  const journalRaw = await readOptional(journalPath);
  const journalBytes = journalRaw ?? Buffer.alloc(0);
  let journal = keep(() => decodeJournal(journalBytes, journalPath, snapshot?.journalSeq));
  if (journal === undefined && corrupt?.file === journalPath && corrupt.line !== undefined) {
    // The records before the bad line are readable: cut the file there and decode that prefix.
    const lines = journalBytes
      .toString('utf8')
      .split('\n')
      .slice(0, corrupt.line - 1);
    const prefix = Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'utf8');
    journal = keep(() => decodeJournal(prefix, journalPath, snapshot?.journalSeq));
  }
  const records = journal?.records ?? [];
  const warnings = journal?.tornWarning === undefined ? [] : [journal.tornWarning];
  const lock = await readOptional(join(abs, STORE_FILES.lock));
  // The same rule as FileStateStore.load(): nothing at all (and nothing torn) is an empty store.
  const empty = snapshot === undefined && records.length === 0 && warnings.length === 0;
  return {
    dir: abs,
    loaded: empty ? undefined : { snapshot: snapshot?.state, journal: records as JsonValue[], warnings },
    files: {
      snapshot: snapshot === undefined ? undefined : { bytes: snapBytes!.length, journalSeq: snapshot.journalSeq },
      journal: journalRaw === undefined ? undefined : { bytes: journalRaw.length, records: records.length },
      lockPid: lock === undefined ? undefined : lock.toString('utf8').trim(),
    },
    corrupt,
  };
}
