import { describe, expect, it } from 'vitest';
import { FRAME_OVERHEAD_BYTES, RateLimiter } from '../../src/server/rate-limit.js';

const limits = { messagesPerSec: 100, messageBurst: 100, bytesPerSec: 1000, bytesBurst: 4000 };

/** Issue 9.4: what the relay sends at a client's request (joined frames) is paid from its byte budget. */
describe('byte budget charge', () => {
  it('takes what the relay sent from the budget, down to one burst in debt, and refills over time', () => {
    const rate = new RateLimiter(limits, 0);
    rate.charge(3000, 0);
    expect(rate.takeBytes(1000 - FRAME_OVERHEAD_BYTES, 0)).toBe('ok');
    expect(rate.takeBytes(1, 0)).toBe('limited');
    // A huge frame leaves at most one burst of debt: 4 s of refill, then 1 s for a 1,000-byte frame.
    rate.charge(1_000_000, 0);
    expect(rate.takeBytes(1000 - FRAME_OVERHEAD_BYTES, 4999)).toBe('limited');
    expect(rate.takeBytes(1000 - FRAME_OVERHEAD_BYTES, 5000)).toBe('ok');
  });
});
