/**
 * The flags a bench module reads, and the check `npm run bench` makes of the command line against them before it runs
 * anything: a bench ignores a flag it does not read, so a misspelled one (`--no-wirte`) ran the bench in full and
 * rewrote its results under bench/results.
 */

/** A module's flags: each takes a value (`--sizes 1000,10000` or `--sizes=1000,10000`) or is a switch (`--no-write`). */
export type BenchFlags = Readonly<Record<string, 'value' | 'switch'>>;

/**
 * What is wrong with `args` for modules reading `flags` (one entry per module run), or undefined when nothing is: a
 * flag none of them reads, a value flag with no value, a switch given a value, a word that belongs to no flag. A flag
 * is accepted when any module run reads it (every module receives the whole line).
 */
export function flagProblem(args: readonly string[], flags: readonly BenchFlags[]): string | undefined {
  const kindOf = (name: string): 'value' | 'switch' | undefined => {
    for (const f of flags) if (Object.hasOwn(f, name)) return f[name];
    return undefined;
  };
  const known = (): string => [...new Set(flags.flatMap((f) => Object.keys(f)))].sort().join(' ');
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-')) return `unexpected argument '${a}' (not the value of a flag)`;
    const eq = a.indexOf('=');
    const name = eq < 0 ? a : a.slice(0, eq);
    const kind = kindOf(name);
    if (kind === undefined) return `unknown flag '${name}' for the benches selected (their flags: ${known()})`;
    if (kind === 'switch') {
      if (eq >= 0) return `'${name}' takes no value`;
      continue;
    }
    if (eq >= 0) continue;
    // A value may be empty (`--boot ''`: no boots) but is never another flag.
    const value = args[i + 1];
    if (value === undefined || value.startsWith('--')) return `'${name}' needs a value`;
    i++;
  }
  return undefined;
}
