/**
 * ccxt's Binance API families (spot, margin, USD-M and COIN-M futures, options, portfolio margin), each at its real
 * path under one base URL: how ccxt is pointed at a loopback Binance (the audit's `--url`, the test emulator). No
 * ccxt import here, and outside src/exchange/ccxt, so the CLI reaches it without loading ccxt.
 */
export function binanceApiUrls(base: string): Record<string, string> {
  const families: Record<string, string> = {
    public: '/api/v3',
    private: '/api/v3',
    v1: '/api/v1',
    sapi: '/sapi/v1',
    sapiV2: '/sapi/v2',
    sapiV3: '/sapi/v3',
    sapiV4: '/sapi/v4',
    fapiPublic: '/fapi/v1',
    fapiPublicV2: '/fapi/v2',
    fapiPublicV3: '/fapi/v3',
    fapiPrivate: '/fapi/v1',
    fapiPrivateV2: '/fapi/v2',
    fapiPrivateV3: '/fapi/v3',
    fapiData: '/futures/data',
    dapiPublic: '/dapi/v1',
    dapiPrivate: '/dapi/v1',
    dapiPrivateV2: '/dapi/v2',
    dapiData: '/futures/data',
    eapiPublic: '/eapi/v1',
    eapiPrivate: '/eapi/v1',
    papi: '/papi/v1',
    papiV2: '/papi/v2',
  };
  const root = base.replace(/\/+$/, '');
  return Object.fromEntries(Object.entries(families).map(([k, p]) => [k, `${root}${p}`]));
}

/**
 * ccxt pro's Binance websocket URLs under one base (`ws://127.0.0.1:PORT`): the market streams at `/ws` (USD-M's
 * private stream is then `/private/ws?listenKey=…`, as ccxt derives it) and the WebSocket APIs at their real paths
 * (spot's user-data subscription goes through `/ws-api/v3`).
 */
export function binanceWsUrls(base: string): Record<string, string | Record<string, string>> {
  const root = base.replace(/\/+$/, '');
  const ws = `${root}/ws`;
  return {
    spot: ws,
    margin: ws,
    future: ws,
    delivery: ws,
    papi: `${root}/pm/ws`,
    'ws-api': { spot: `${root}/ws-api/v3`, future: `${root}/ws-fapi/v1`, delivery: `${root}/ws-dapi/v1` },
  };
}
