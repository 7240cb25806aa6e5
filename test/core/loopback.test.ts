import { describe, expect, it } from 'vitest';

import { isLoopbackHost } from '../../src/core/loopback.js';

describe('isLoopbackHost', () => {
  it('accepts localhost, 127.0.0.0/8 and ::1, bare or in brackets, in any case', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]'])
      expect(isLoopbackHost(host), host).toBe(true);
  });

  it('refuses other hosts and look-alikes', () => {
    for (const host of [
      'example.com',
      '128.0.0.1',
      '127.0.0.1.example.com',
      'localhost.example',
      '[::2]',
      '::',
      '',
    ])
      expect(isLoopbackHost(host), host).toBe(false);
  });

  it('accepts *.localhost unless the caller refuses it', () => {
    expect(isLoopbackHost('app.localhost')).toBe(true);
    expect(isLoopbackHost('app.localhost', { localhostSubdomains: false })).toBe(false);
    expect(isLoopbackHost('localhost', { localhostSubdomains: false })).toBe(true);
  });
});
