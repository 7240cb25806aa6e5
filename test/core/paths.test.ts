import { describe, expect, it } from 'vitest';

import { resolvePaths } from '../../src/core/paths.js';

describe('resolvePaths', () => {
  it('puts every location under the XDG directories of the given environment', () => {
    const paths = resolvePaths({ HOME: '/home/u', XDG_STATE_HOME: '/state' });
    expect(paths).toMatchObject({
      home: '/home/u',
      configDir: '/home/u/.config/patchbay',
      dataDir: '/home/u/.local/share/patchbay',
      stateDir: '/state/patchbay',
      cacheDir: '/home/u/.cache/patchbay',
      userConfig: '/home/u/.config/patchbay/config.json',
      authIndex: '/home/u/.local/share/patchbay/auth-index.json',
      gatewayToken: '/home/u/.local/share/patchbay/gateway-token',
      eraHints: '/home/u/.local/share/patchbay/era-hints.json',
      usage: '/state/patchbay/usage.json',
      pins: '/state/patchbay/pins.json',
      audit: '/state/patchbay/audit.jsonl',
      consolesDir: '/state/patchbay/consoles',
    });
  });

  it('honours the PATCHBAY_*_DIR overrides and ignores relative XDG values', () => {
    const paths = resolvePaths({ HOME: '/h', PATCHBAY_DATA_DIR: '/d', XDG_CONFIG_HOME: 'relative' });
    expect(paths.dataDir).toBe('/d');
    expect(paths.configDir).toBe('/h/.config/patchbay');
  });
});
