import { describe, expect, it } from 'vitest';
import { isLoopback } from '../../src/server/http.js';
import { devTokenRefusal } from '../../src/server/dev-routes.js';
import { reusedFor } from '../../src/server/metrics-server.js';

describe('loopback addresses', () => {
  it.each([
    '127.0.0.1',
    '127.5.6.7',
    '::1',
    '0000:0000:0000:0000:0000:0000:0000:0001',
    // What uWS reports for 127.0.0.1 on a [::] listener.
    '0000:0000:0000:0000:0000:ffff:7f00:0001',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
  ])('%s is loopback', (address) => {
    expect(isLoopback(address)).toBe(true);
  });

  it.each(['10.0.0.1', '0000:0000:0000:0000:0000:ffff:0a00:0001', '::ffff:10.0.0.1', 'fe80::1', '::', '0.0.0.0', 'garbage', '1.2.3.4.127', ''])('%s is not', (address) => {
    expect(isLoopback(address)).toBe(false);
  });
});

describe('/dev/token refusals', () => {
  const headers = (h: Record<string, string>) => (name: string) => h[name] ?? '';

  it('serves a local browser or curl', () => {
    expect(devTokenRefusal('127.0.0.1', headers({ host: 'localhost:8081' }))).toBeUndefined();
    expect(devTokenRefusal('0000:0000:0000:0000:0000:ffff:7f00:0001', headers({ host: '127.0.0.1:8081' }))).toBeUndefined();
    expect(devTokenRefusal('::1', headers({ host: '[::1]:8081' }))).toBeUndefined();
  });

  it.each(['forwarded', 'x-forwarded-for', 'x-real-ip', 'x-forwarded-host', 'via'])('refuses a loopback caller that forwards (%s)', (name) => {
    expect(devTokenRefusal('127.0.0.1', headers({ host: 'localhost:8081', [name]: '203.0.113.9' }))).toMatch(/proxy/);
  });

  it('refuses a rebound DNS name and a remote caller', () => {
    expect(devTokenRefusal('127.0.0.1', headers({ host: 'attacker.example:8081' }))).toMatch(/Host/);
    expect(devTokenRefusal('127.0.0.1', headers({}))).toMatch(/Host/);
    expect(devTokenRefusal('10.0.0.7', headers({ host: 'localhost:8081' }))).toMatch(/loopback/);
  });
});

describe('metrics rendering reuse', () => {
  it('renders once for concurrent and close scrapes, again after the reuse window, and retries failures', async () => {
    let now = 0;
    let calls = 0;
    let fail = false;
    const render = reusedFor(
      1000,
      async () => {
        calls++;
        if (fail) throw new Error('boom');
        return `text ${calls}`;
      },
      () => now,
    );
    expect(await Promise.all([render(), render(), render()])).toEqual(['text 1', 'text 1', 'text 1']);
    now = 999;
    expect(await render()).toBe('text 1');
    now = 1001;
    expect(await render()).toBe('text 2');
    expect(calls).toBe(2);
    now = 5000;
    fail = true;
    await expect(render()).rejects.toThrow('boom');
    fail = false;
    expect(await render()).toBe('text 4');
  });
});
