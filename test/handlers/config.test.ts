import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/domain/errors.js';
import { DEFAULT_CONFIG, isResolvedConfig, resolveConfig, zombiePolicyFor } from '../../src/handlers/config.js';
import { RuntimeHandler } from '../../src/handlers/runtime.js';
import { StartupHandler } from '../../src/handlers/startup.js';

describe('resolveConfig', () => {
  it('documents its defaults: ignore zombies, 2 confirmations, K=10, N=3, 24 h lookback, executing', () => {
    expect(resolveConfig()).toBe(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG).toMatchObject({
      zombiePolicy: { default: 'ignore' },
      notFoundConfirmations: 2,
      maxQueriesPerCycle: 10,
      driftCyclesBeforeLiquidateOnly: 3,
      tradeLookbackMs: 86_400_000,
      maxHistoryPagesPerCycle: 20,
      maxClockSkewMs: 0,
      reportOnly: false,
    });
    expect(DEFAULT_CONFIG.diffOptions.inFlightGraceMs).toBe(5_000);
  });

  it('completes a partial config; per-symbol zombie policy overrides the default', () => {
    const c = resolveConfig({
      zombiePolicy: { default: 'cancel', perSymbol: { 'ETH/USDT': 'adopt' } },
      maxQueriesPerCycle: 3,
      tolerances: { default: { absolute: '0.01' } },
    });
    expect(zombiePolicyFor(c, 'ETH/USDT')).toBe('adopt');
    expect(zombiePolicyFor(c, 'BTC/USDT')).toBe('cancel');
    expect(c.maxQueriesPerCycle).toBe(3);
    expect(c.notFoundConfirmations).toBe(2);
    expect(resolveConfig({ maxClockSkewMs: 250 }).maxClockSkewMs).toBe(250);
    expect(c.diffOptions.tolerances.default.absolute.toFixed()).toBe('0.01');
    expect(isResolvedConfig(c)).toBe(true);
    expect(resolveConfig(c)).toBe(c);
  });

  it('a bad config is one ConfigError listing every problem, the differ part included', () => {
    let err: unknown;
    try {
      resolveConfig({
        zombiePolicy: { default: 'nuke', perSymbol: { 'BTC/USDT': 'maybe' } },
        notFoundConfirmations: 0,
        maxQueriesPerCycle: 2.5,
        driftCyclesBeforeLiquidateOnly: -1,
        tradeLookbackMs: '1d',
        reportOnly: 'yes',
        tolerances: { default: { absolute: 0.1 } },
        inFlightGraceMs: -5,
        maxClockSkewMs: 60_001,
        maxQueriesPerCylce: 3,
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const paths = (err as ConfigError).issues.map((i) => i.path).sort();
    expect(paths).toEqual(
      [
        'driftCyclesBeforeLiquidateOnly',
        'inFlightGraceMs',
        'maxClockSkewMs',
        'maxQueriesPerCycle',
        'maxQueriesPerCylce',
        'notFoundConfirmations',
        'reportOnly',
        'tolerances.default.absolute',
        'tradeLookbackMs',
        'zombiePolicy.default',
        'zombiePolicy.perSymbol.BTC/USDT',
      ].sort(),
    );
  });

  it('rejects a non-object config, and the handlers throw ConfigError at construction', () => {
    expect(() => resolveConfig(42)).toThrow(ConfigError);
    expect(() => new RuntimeHandler({ maxQueriesPerCycle: 0 })).toThrow(ConfigError);
    expect(() => new StartupHandler({ zombiePolicy: { default: 'burn' as never } })).toThrow(ConfigError);
  });
});
