import { describe, expect, it } from 'vitest';
import { flagProblem, type BenchFlags } from '../../bench/flags.js';

const engine: BenchFlags = { '--sizes': 'value', '--boot': 'value', '--no-write': 'switch' };
const diff: BenchFlags = { '--sizes': 'value', '--runs': 'value', '--no-write': 'switch' };

describe('flagProblem', () => {
  it('accepts the flags the selected benches read, values in both spellings, and an empty value', () => {
    expect(flagProblem([], [engine])).toBeUndefined();
    expect(flagProblem(['--sizes', '1000,10000', '--boot', '', '--no-write'], [engine])).toBeUndefined();
    expect(flagProblem(['--sizes=1000', '--boot=100000'], [engine])).toBeUndefined();
    // Every selected bench receives the whole line: a flag read by one of them is accepted.
    expect(flagProblem(['--runs', '3', '--boot', '1000'], [engine, diff])).toBeUndefined();
  });

  it('refuses a misspelled flag, naming it and the flags there are', () => {
    const problem = flagProblem(['--sizes', '1000', '--no-wirte'], [engine]);
    expect(problem).toContain("unknown flag '--no-wirte'");
    expect(problem).toContain('--boot --no-write --sizes');
  });

  it('refuses a flag only a bench not selected reads', () => {
    expect(flagProblem(['--runs', '3'], [engine])).toContain("unknown flag '--runs'");
  });

  it('refuses a value flag without its value, a switch with one, and a stray word', () => {
    expect(flagProblem(['--sizes'], [engine])).toBe("'--sizes' needs a value");
    expect(flagProblem(['--sizes', '--no-write'], [engine])).toBe("'--sizes' needs a value");
    expect(flagProblem(['--no-write=yes'], [engine])).toBe("'--no-write' takes no value");
    expect(flagProblem(['--no-write', '1000'], [engine])).toContain("unexpected argument '1000'");
  });
});
