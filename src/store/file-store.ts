/**
 * FileStateStore: the engine's durable state in one directory, an adapter of the StateStore port.
 *
 * Files (all mode 0600, the directory 0700 when we create it):
 *   snapshot.json      the last compacted state, replaced atomically (format in codec.ts)
 *   snapshot.json.tmp  the next snapshot while it is being written; ignored by load
 *   journal.jsonl      append-only records since the snapshot, one a line, each with seq and CRC-32
 *   lock               pid of the single writer (created atomically with link(2))
 *
 * append(r): write `line\n` with O_APPEND in one write, fsync the file (and the directory when the write created
 * the journal), then resolve. A crash mid-write leaves a prefix with no trailing newline: the torn tail.
 *
 * compact(s), with N = seq of the last appended record; every crash point reloads to the same logical state:
 *   1. write snapshot.json.tmp {journalSeq: N, state: s}  crash → tmp ignored; old snapshot + full journal
 *   2. fsync tmp                                          crash → same as 1
 *   3. rename tmp → snapshot.json (atomic)                crash before → as 1; after → new snapshot, and the
 *                                                         journal's records (all seq <= N) are skipped as stale
 *   4. fsync the directory                                makes 3 durable BEFORE step 5 can destroy records
 *   5. truncate journal to 0, fsync                       crash → new snapshot + empty journal
 * Seq keeps growing across compactions, so stale records are recognised by number, never by position.
 *
 * load() never writes. Problems it tolerates (a torn tail, stale records, a leftover tmp file) are repaired
 * lazily by the first write: truncate the torn bytes so the next record cannot glue onto them, and drop a
 * journal that is entirely stale. Anything else wrong is a StoreCorruptError naming the file and line, and every
 * later write refuses too, so a corrupt file is never overwritten.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  canonicalJson,
  decodeJournal,
  decodeJournalInSlices,
  decodeSnapshot,
  encodeJournalLine,
  encodeSnapshotBytes,
  SnapshotReader,
  writeSnapshotPieces,
  type DecodedSnapshot,
} from './codec.js';
import { StoreError } from './errors.js';
import { runStepsSliced, type Pause } from '../domain/steps.js';
import type { JsonValue, LoadedState, StateStore, StoreUsage } from './port.js';

/** File names inside the store directory. */
export const STORE_FILES = {
  snapshot: 'snapshot.json',
  snapshotTmp: 'snapshot.json.tmp',
  journal: 'journal.jsonl',
  lock: 'lock',
} as const;

/** Points inside append/compact where a test can simulate a crash (see `FileStateStoreOptions.failpoint`). */
export type FileStoreFailpoint =
  | 'append:before-write'
  | 'append:written'
  | 'append:synced'
  | 'compact:temp-written'
  | 'compact:temp-synced'
  | 'compact:renamed'
  | 'compact:dir-synced'
  | 'compact:journal-reset';

export interface FileStateStoreOptions {
  /** Called with each non-fatal finding of load() (they are also in `LoadedState.warnings`). */
  onWarning?: (message: string) => void;
  /**
   * Testing hook: called synchronously at each named point of a write. If it throws, the store behaves as if the
   * process died there: the operation rejects, nothing is cleaned up, and the store refuses further writes (close
   * it and open the directory again to observe what a restart would find). A hook that returns normally only
   * observes (the crash test uses it to aim real kills at a write in progress).
   */
  failpoint?: (point: FileStoreFailpoint) => void;
}

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** Lock files held by stores of THIS process, so a lock naming our own pid is told apart from a stale one. */
const heldLocks = new Set<string>();

/** What the writer knows about the journal on disk; established by a scan, then kept up to date. */
interface Cursor {
  lastSeq: number;
  /** Size of the journal once repaired. */
  length: number;
  exists: boolean;
  /** Set when the file must be truncated to `length` before the next write (torn tail or all stale). */
  repair: boolean;
  /** Records in the journal after the snapshot, and the snapshot's size: what `usage()` reports. */
  records: number;
  snapshotBytes: number;
}

/** StateStore over a directory; see the module comment for the format and the crash protocol. */
export class FileStateStore<S extends JsonValue = JsonValue, R extends JsonValue = JsonValue> implements StateStore<
  S,
  R
> {
  /** Absolute path of the store directory. */
  readonly dir: string;
  /** `load(pause)` parses a snapshot written with line breaks a slice at a time (see `StateStore.loadsInSlices`). */
  readonly loadsInSlices = true;
  private readonly options: FileStateStoreOptions;
  private queue: Promise<unknown> = Promise.resolve();
  private status: 'open' | 'closing' | 'closed' = 'open';
  /** Set once a write failed midway: the journal tail is unknown, so further writes are refused. */
  private failure: unknown = undefined;
  private cursor: Cursor | undefined;
  private journalHandle: FileHandle | undefined;

  /** The directory (the port's `location`). */
  get location(): string {
    return this.dir;
  }

  private constructor(dir: string, options: FileStateStoreOptions) {
    this.dir = dir;
    this.options = options;
  }

  /**
   * Opens (creating it with mode 0700 if missing) the store directory and takes its lock.
   * A lock left by a dead process is taken over.
   * @throws StoreError `locked` when another live process or another open store in this process holds it;
   *   `io` when the directory or lock cannot be created.
   */
  static async open<S extends JsonValue = JsonValue, R extends JsonValue = JsonValue>(
    dir: string,
    options: FileStateStoreOptions = {},
  ): Promise<FileStateStore<S, R>> {
    const abs = resolve(dir);
    try {
      const firstCreated = await mkdir(abs, { recursive: true, mode: DIR_MODE });
      // Each directory we created is an entry in its parent: sync the parents, or a power loss could take the
      // whole store directory (and every "durable" record in it) away.
      if (firstCreated !== undefined) {
        for (let d = abs; d !== firstCreated && dirname(d) !== d; d = dirname(d)) await syncDir(dirname(d));
        await syncDir(dirname(firstCreated));
      }
    } catch (e) {
      throw new StoreError('io', `cannot create store directory ${abs}`, { cause: e });
    }
    await acquireLock(abs);
    return new FileStateStore<S, R>(abs, options);
  }

  private path(name: keyof typeof STORE_FILES): string {
    return join(this.dir, STORE_FILES[name]);
  }

  /**
   * Snapshot + journal records after it; undefined when the store holds nothing at all (a journal holding only
   * a torn record loads as an empty state carrying the warning). Never modifies a file.
   * @throws StoreCorruptError naming the file and line of anything wrong other than a torn last record.
   */
  load(pause?: () => Promise<void> | undefined): Promise<LoadedState<S, R> | undefined> {
    return this.enqueue(false, async () => {
      const scan = await this.scan(pause);
      for (const w of scan.warnings) this.options.onWarning?.(w);
      if (scan.snapshot === undefined && scan.records.length === 0 && scan.warnings.length === 0) return undefined;
      return {
        snapshot: scan.snapshot?.state as S | undefined,
        journal: scan.records as R[],
        warnings: scan.warnings,
      };
    });
  }

  /** Appends one record; resolves once it is fsynced. Calls are applied in call order. */
  append(record: R): Promise<void> {
    let body: string;
    try {
      // Serialize now: the caller may mutate the object after the call, and a bad value must not consume a seq.
      body = canonicalJson(record);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue(true, async () => {
      const cursor = await this.writableCursor();
      const seq = cursor.lastSeq + 1;
      const bytes = Buffer.from(encodeJournalLine(seq, body), 'utf8');
      await this.guarded(async () => {
        const handle = await this.journal(cursor);
        this.failpoint('append:before-write');
        await writeAll(handle, bytes);
        this.failpoint('append:written');
        await handle.sync();
        this.failpoint('append:synced');
      });
      cursor.lastSeq = seq;
      cursor.length += bytes.length;
      cursor.records++;
    });
  }

  /** Replaces the snapshot atomically and empties the journal (protocol in the module comment). */
  compact(snapshot: S): Promise<void> {
    let body: string;
    try {
      body = canonicalJson(snapshot);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.replaceSnapshot(async (seq, write) => {
      const bytes = encodeSnapshotBytes(seq, body);
      await write(bytes, 0);
      return bytes.length;
    });
  }

  /** `compact` for a snapshot already in canonical JSON pieces (see `StateStore.compactCanonical`). */
  compactCanonical(pieces: readonly string[], pause: () => Promise<void> | undefined): Promise<void> {
    return this.replaceSnapshot((seq, write) => writeSnapshotPieces(seq, pieces, pause, write));
  }

  /**
   * `compact` for canonical JSON pieces made while it writes (see `StateStore.compactCanonicalStream`): each piece's
   * bytes go to the temp file before the next piece is taken. When `pieces` throws, the temp file is removed and the
   * store rejects with that error, usable as before.
   */
  compactCanonicalStream(pieces: AsyncIterable<string>, pause: () => Promise<void> | undefined): Promise<void> {
    return this.replaceSnapshot((seq, write) => writeSnapshotPieces(seq, pieces, pause, write));
  }

  /**
   * The compaction protocol (module comment) for the snapshot file `writeTemp` writes for the last journal seq,
   * through `write(bytes, position)` into the temp file; it returns the file's length.
   */
  private replaceSnapshot(
    writeTemp: (journalSeq: number, write: (bytes: Buffer, position: number) => Promise<void>) => Promise<number>,
  ): Promise<void> {
    return this.enqueue(true, async () => {
      const cursor = await this.writableCursor();
      const tmp = this.path('snapshotTmp');
      let size = 0;
      // Set when the snapshot's own making failed (not the file system): that error is the caller's, given as it is.
      let making: { error: unknown } | undefined;
      // Steps 1-2: until the rename nothing visible has changed, so a failure here leaves the store usable.
      try {
        await rm(tmp, { force: true });
        const handle = await open(tmp, 'wx', FILE_MODE);
        try {
          let writing = false;
          const write = async (bytes: Buffer, position: number): Promise<void> => {
            writing = true;
            await writeAll(handle, bytes, position);
            writing = false;
          };
          try {
            size = await writeTemp(cursor.lastSeq, write);
          } catch (e) {
            if (!writing) making = { error: e };
            throw e;
          }
          this.failpoint('compact:temp-written');
          await handle.sync();
        } finally {
          await handle.close();
        }
        this.failpoint('compact:temp-synced');
      } catch (e) {
        if (e instanceof SimulatedCrashError) throw this.fail(e);
        await rm(tmp, { force: true }).catch(() => undefined);
        if (making !== undefined) throw making.error;
        throw new StoreError('io', `compaction failed writing ${tmp}; the previous snapshot and journal are intact`, {
          cause: e,
        });
      }
      // Steps 3-5: after the rename a failure leaves the journal state unknown, so the store stops accepting writes.
      await this.guarded(async () => {
        await rename(tmp, this.path('snapshot'));
        this.failpoint('compact:renamed');
        await syncDir(this.dir);
        this.failpoint('compact:dir-synced');
        if (cursor.exists) {
          const handle = await this.journal(cursor);
          await handle.truncate(0);
          await handle.sync();
        }
        cursor.length = 0;
        cursor.records = 0;
        cursor.snapshotBytes = size;
        this.failpoint('compact:journal-reset');
      });
    });
  }

  /**
   * Bytes of the snapshot and of the journal's records after it, and their count, as of the writes that resolved
   * (a torn tail or stale records awaiting repair are not counted); undefined before the first load or write.
   */
  usage(): StoreUsage | undefined {
    const c = this.cursor;
    return c === undefined
      ? undefined
      : { snapshotBytes: c.snapshotBytes, journalBytes: c.length, journalRecords: c.records };
  }

  /** Waits for pending operations, closes the journal and releases the lock. Calling it again is a no-op. */
  async close(): Promise<void> {
    if (this.status !== 'open') return this.queue.then(() => undefined);
    this.status = 'closing';
    const done = this.queue.then(async () => {
      try {
        await this.journalHandle?.close();
      } finally {
        this.journalHandle = undefined;
        this.status = 'closed';
        await releaseLock(this.dir);
      }
    });
    this.queue = done.catch(() => undefined);
    return done;
  }

  /** Runs `op` after every operation queued before it; rejects at once (in order) when closed or failed. */
  private enqueue<T>(write: boolean, op: () => Promise<T>): Promise<T> {
    if (this.status !== 'open') return Promise.reject(new StoreError('closed', `store ${this.dir} is closed`));
    const run = async (): Promise<T> => {
      if (write && this.failure !== undefined) {
        throw new StoreError(
          'io',
          `store ${this.dir} refused the write: an earlier write failed midway; reopen the store`,
          {
            cause: this.failure,
          },
        );
      }
      return op();
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Reads and verifies both files (never writes); refreshes the writer's cursor from what it found. With `pause`, both
   * are checked and parsed a piece at a time (`readSnapshotChunked`, `decodeJournalInSlices`).
   */
  private async scan(pause?: () => Promise<void> | undefined): Promise<{
    snapshot: { journalSeq: number; state: JsonValue } | undefined;
    records: JsonValue[];
    warnings: string[];
  }> {
    // Forget what we knew first: if the files turn out corrupt, later writes must rescan and refuse too.
    this.cursor = undefined;
    const snapshotPath = this.path('snapshot');
    const journalPath = this.path('journal');
    const read =
      pause === undefined ? await readSnapshot(snapshotPath) : await readSnapshotInSlices(snapshotPath, pause);
    const snapshot = read?.snapshot;
    const journalBytes = await readOptional(journalPath);
    const journal =
      pause === undefined
        ? decodeJournal(journalBytes ?? Buffer.alloc(0), journalPath, snapshot?.journalSeq)
        : await decodeJournalInSlices(journalBytes ?? Buffer.alloc(0), journalPath, snapshot?.journalSeq, pause);
    const allStale = journal.records.length === 0 && journal.staleCount > 0;
    const length = allStale ? 0 : journal.validLength;
    this.cursor = {
      lastSeq: journal.lastSeq,
      length,
      exists: journalBytes !== undefined,
      repair: journalBytes !== undefined && journalBytes.length !== length,
      records: journal.records.length,
      snapshotBytes: read?.bytes ?? 0,
    };
    return {
      snapshot,
      records: journal.records,
      warnings: journal.tornWarning === undefined ? [] : [journal.tornWarning],
    };
  }

  /** The cursor, after scanning (if no load happened yet) and repairing what load tolerated. */
  private async writableCursor(): Promise<Cursor> {
    if (this.cursor === undefined) {
      // A corrupt file throws here, so a write never lands on top of it. The cursor stays unset on failure.
      await this.scan();
    }
    const cursor = this.cursor as Cursor;
    if (cursor.repair) {
      await this.guarded(async () => {
        const handle = await this.journal(cursor);
        await handle.truncate(cursor.length);
        await handle.sync();
      });
      cursor.repair = false;
    }
    return cursor;
  }

  /** The append handle (O_APPEND), opened on first use; creating the file also fsyncs the directory entry. */
  private async journal(cursor: Cursor): Promise<FileHandle> {
    if (this.journalHandle !== undefined) return this.journalHandle;
    const handle = await open(this.path('journal'), 'a', FILE_MODE);
    this.journalHandle = handle;
    if (!cursor.exists) {
      await syncDir(this.dir);
      cursor.exists = true;
    }
    return handle;
  }

  /** Runs a write step; any failure poisons the store, since the files may now be half-changed. */
  private async guarded(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (e) {
      throw this.fail(e);
    }
  }

  private fail(e: unknown): unknown {
    this.failure = e;
    // Drop the cursor: after a reopen the files are scanned again instead of trusting what we believed.
    this.cursor = undefined;
    if (e instanceof SimulatedCrashError || e instanceof StoreError) return e;
    return new StoreError('io', `write to store ${this.dir} failed; reopen the store`, { cause: e });
  }

  private failpoint(point: FileStoreFailpoint): void {
    const hook = this.options.failpoint;
    if (hook === undefined) return;
    try {
      hook(point);
    } catch (e) {
      throw new SimulatedCrashError(point, e);
    }
  }
}

/**
 * Raised when a failpoint hook throws: the store stops exactly there, as if the process had died. Its `name` stays
 * `StoreError` (kind `io`): to a caller it is the store's own I/O failure.
 */
class SimulatedCrashError extends StoreError {
  constructor(point: FileStoreFailpoint, cause: unknown) {
    super('io', `simulated crash at ${point}`, { cause });
  }
}

/** The snapshot file decoded, and its length in bytes. */
export interface ReadSnapshot {
  readonly snapshot: DecodedSnapshot;
  readonly bytes: number;
}

async function readSnapshot(path: string): Promise<ReadSnapshot | undefined> {
  const bytes = await readOptional(path);
  return bytes === undefined ? undefined : { snapshot: decodeSnapshot(bytes, path), bytes: bytes.length };
}

/** Bytes of the snapshot file read a call into the one buffer `readSnapshotChunked` reuses. */
const SNAPSHOT_READ_CHUNK = 1 << 20;

/**
 * `readSnapshot` a chunk at a time, with `pause` asked between the steps: what `decodeSnapshot` gives of the whole
 * file, or its error. A file not exactly as the encoder writes it is read again whole, and `decodeSnapshot` decides.
 */
async function readSnapshotInSlices(path: string, pause: Pause): Promise<ReadSnapshot | undefined> {
  const read = await readSnapshotChunked(path, pause);
  return read === null ? undefined : (read ?? readSnapshot(path));
}

/**
 * The snapshot file read into one reused buffer a chunk at a time and decoded as it comes (`SnapshotReader`), with
 * `pause` asked between the steps: null when there is no file, undefined when it is not exactly as the encoder writes
 * it (for `decodeSnapshot` to decide over the whole file). Exported for its tests.
 */
export async function readSnapshotChunked(path: string, pause: Pause): Promise<ReadSnapshot | null | undefined> {
  const failed = (e: unknown): StoreError => new StoreError('io', `cannot read ${path}`, { cause: e });
  const io = <T>(op: Promise<T>): Promise<T> =>
    op.catch((e: unknown) => {
      throw failed(e);
    });
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return null;
    throw failed(e);
  }
  try {
    const { size } = await io(handle.stat());
    const reader = new SnapshotReader(size);
    // One byte more than the size: a chunk that fills it says there is more (a file that grew since `stat`).
    const chunk = Buffer.allocUnsafe(Math.min(SNAPSHOT_READ_CHUNK, size + 1));
    let total = 0;
    for (;;) {
      // A read may give fewer bytes than asked: the chunk is filled unless the file ends.
      let n = 0;
      while (n < chunk.length) {
        const { bytesRead } = await io(handle.read(chunk, n, chunk.length - n, total + n));
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      await runStepsSliced(reader.push(chunk.subarray(0, n)), pause);
      total += n;
      if (n < chunk.length) break;
    }
    const snapshot = reader.end();
    return snapshot === undefined ? undefined : { snapshot, bytes: total };
  } finally {
    await handle.close();
  }
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readWhole(path);
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return undefined;
    throw new StoreError('io', `cannot read ${path}`, { cause: e });
  }
}

/**
 * The file's bytes, read in one call when it holds what `stat` said: `readFile` reads 512 KiB a call, some 50 round
 * trips through the thread pool for the snapshot of 100 000 orders. Reads on to the end whatever `stat` said.
 */
export async function readWhole(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    // One byte more than the size: a read that fills it says there is more (a file that grew, or one stat cannot size).
    let bytes = Buffer.allocUnsafe(size + 1);
    let length = 0;
    for (;;) {
      if (length === bytes.length) {
        const larger = Buffer.allocUnsafe(2 * bytes.length);
        bytes.copy(larger, 0, 0, length);
        bytes = larger;
      }
      const { bytesRead } = await handle.read(bytes, length, bytes.length - length, length);
      if (bytesRead === 0) return bytes.subarray(0, length);
      length += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

/** Writes all of `bytes` at the file's position, or at `position` (in a file opened without O_APPEND). */
async function writeAll(handle: FileHandle, bytes: Buffer, position?: number): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const at = position === undefined ? null : position + offset;
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, at);
    offset += bytesWritten;
  }
}

/** fsync a directory so a rename or a new entry in it survives power loss. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(dir, fsConstants.O_RDONLY);
  } catch (e) {
    // Some platforms (Windows) cannot open a directory at all; there is nothing more we can do there.
    if (isUnsupportedDirSync(e)) return;
    throw e;
  }
  try {
    await handle.sync();
  } catch (e) {
    if (!isUnsupportedDirSync(e)) throw e;
  } finally {
    await handle.close();
  }
}

function isUnsupportedDirSync(e: unknown): boolean {
  const code = errnoCode(e);
  return code === 'EISDIR' || code === 'EINVAL' || code === 'EPERM' || code === 'ENOTSUP';
}

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/**
 * Takes the directory's lock: a file `lock` holding our pid, created complete and atomically by writing a
 * private temp file and hard-linking it (link fails if `lock` exists). A lock whose pid is dead, or is our own
 * pid but not held by this process (a previous incarnation with a reused pid, common as pid 1 in containers),
 * is stale and taken over. Residual race: two processes taking over the same stale lock at the same instant
 * can both succeed; the lock guards against operator mistakes, not against that.
 */
async function acquireLock(dir: string): Promise<void> {
  const lockPath = join(dir, STORE_FILES.lock);
  if (heldLocks.has(lockPath)) throw new StoreError('locked', `store ${dir} is already open in this process`);
  // Reserved synchronously, so two concurrent open() calls in this process cannot both get past this point.
  heldLocks.add(lockPath);
  try {
    await takeLockFile(dir, lockPath);
  } catch (e) {
    heldLocks.delete(lockPath);
    throw e;
  }
  await removeDeadLockTemps(dir);
}

async function takeLockFile(dir: string, lockPath: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    // A random suffix: a leftover temp from a crashed earlier process with the same pid must not collide.
    const tmp = join(dir, `lock.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeNew(tmp, `${process.pid}\n`);
    } catch (e) {
      throw new StoreError('io', `cannot create lock ${lockPath}`, { cause: e });
    }
    try {
      await link(tmp, lockPath);
      return;
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw new StoreError('io', `cannot create lock ${lockPath}`, { cause: e });
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    const content = await readOptional(lockPath);
    if (content === undefined) continue; // released meanwhile: try again
    const text = content.toString('utf8').trim();
    const pid = /^[1-9][0-9]*$/.test(text) ? Number.parseInt(text, 10) : undefined;
    if (pid === undefined) {
      throw new StoreError(
        'locked',
        `lock ${lockPath} is unreadable (${JSON.stringify(text.slice(0, 40))}); remove it if no engine is running`,
      );
    }
    // Our own pid here means an earlier incarnation: this process reserved the path and holds no such lock.
    if (pid !== process.pid && isAlive(pid)) {
      throw new StoreError('locked', `store ${dir} is locked by live process ${pid} (${lockPath})`);
    }
    // Stale: remove it only if it still names the dead pid, then race for it again through link().
    const again = await readOptional(lockPath);
    if (again !== undefined && again.equals(content)) await unlink(lockPath).catch(() => undefined);
  }
  throw new StoreError('locked', `could not take lock ${lockPath} (contended)`);
}

/** Best effort: deletes lock temp files left by processes that died between creating and linking them. */
async function removeDeadLockTemps(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^lock\.([1-9][0-9]*)\.[0-9a-f]+\.tmp$/.exec(name);
    const pid = m === null ? undefined : Number.parseInt(m[1] ?? '', 10);
    if (pid !== undefined && pid !== process.pid && !isAlive(pid)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

async function releaseLock(dir: string): Promise<void> {
  const lockPath = join(dir, STORE_FILES.lock);
  if (!heldLocks.delete(lockPath)) return;
  try {
    await unlink(lockPath);
  } catch (e) {
    if (errnoCode(e) !== 'ENOENT') throw new StoreError('io', `cannot remove lock ${lockPath}`, { cause: e });
  }
}

async function writeNew(path: string, text: string): Promise<void> {
  const handle = await open(path, 'wx', FILE_MODE);
  try {
    await writeAll(handle, Buffer.from(text, 'utf8'));
  } finally {
    await handle.close();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else. Only ESRCH proves it is gone.
    return errnoCode(e) !== 'ESRCH';
  }
}
