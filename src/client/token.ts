/** Seconds since the epoch at which a JWT expires, read without verifying it (the relay verifies). */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '='));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * When to fetch a fresh token: a minute before expiry, or halfway through a shorter
 * lifetime, so a token never lapses while the connection is up.
 */
export function refreshDelayMs(expiresAt: number, nowMs: number): number {
  const remaining = expiresAt * 1000 - nowMs;
  return Math.max(0, remaining > 120_000 ? remaining - 60_000 : remaining / 2);
}
