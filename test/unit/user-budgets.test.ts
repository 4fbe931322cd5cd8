import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/server/rate-limit.js';
import { FLOOD_COOLDOWN_BASE_MS, FLOOD_COOLDOWN_MAX_MS, FLOOD_STRIKE_MEMORY_MS, UserBudgets } from '../../src/server/user-budgets.js';

const LIMITS = { messagesPerSec: 100, messageBurst: 100, bytesPerSec: 10_000, bytesBurst: 20_000 };

describe('UserBudgets', () => {
  it("shares one byte budget between a user's connections, not between users", () => {
    const budgets = new UserBudgets(LIMITS);
    const a1 = new RateLimiter(LIMITS, 0, budgets.acquire('alice', 0));
    const a2 = new RateLimiter(LIMITS, 0, budgets.acquire('alice', 0));
    const b = new RateLimiter(LIMITS, 0, budgets.acquire('bob', 0));
    expect(a1.takeBytes(15_000, 0)).toBe('ok');
    // The second connection pays from what the first left: 5,000 bytes, not another 20,000.
    expect(a2.takeBytes(15_000, 0)).not.toBe('ok');
    expect(b.takeBytes(15_000, 0)).toBe('ok');
  });

  it('keeps the budget spent across a reconnect while another connection of the user stays', () => {
    const budgets = new UserBudgets(LIMITS);
    const staying = budgets.acquire('alice', 0);
    const first = new RateLimiter(LIMITS, 0, budgets.acquire('alice', 0));
    expect(first.takeBytes(19_000, 0)).toBe('ok');
    budgets.release('alice', 0);
    const again = new RateLimiter(LIMITS, 0, budgets.acquire('alice', 0));
    expect(again.takeBytes(19_000, 0)).not.toBe('ok');
    expect(staying).toBe(budgets.acquire('alice', 0));
  });

  it('cools a flooder down, doubling with each repeat up to the maximum, and forgets after a quiet period', () => {
    const budgets = new UserBudgets(LIMITS);
    expect(budgets.coolingDown('mallory', 0)).toBe(0);
    expect(budgets.flooded('mallory', 0)).toBe(FLOOD_COOLDOWN_BASE_MS);
    expect(budgets.coolingDown('mallory', 10)).toBe(FLOOD_COOLDOWN_BASE_MS - 10);
    expect(budgets.coolingDown('alice', 10)).toBe(0);
    expect(budgets.flooded('mallory', 2000)).toBe(2 * FLOOD_COOLDOWN_BASE_MS);
    let t = 2000;
    for (let i = 0; i < 10; i++) budgets.flooded('mallory', (t += 1000));
    expect(budgets.flooded('mallory', (t += 1000))).toBe(FLOOD_COOLDOWN_MAX_MS);
    t += FLOOD_COOLDOWN_MAX_MS;
    expect(budgets.coolingDown('mallory', t)).toBe(0);
    expect(budgets.flooded('mallory', t + FLOOD_STRIKE_MEMORY_MS + 1)).toBe(FLOOD_COOLDOWN_BASE_MS);
  });

  it('remembers only users connected or recently closed for flooding', () => {
    const budgets = new UserBudgets(LIMITS);
    for (let i = 0; i < 100; i++) budgets.acquire(`u${i}`, 0);
    for (let i = 0; i < 100; i++) budgets.release(`u${i}`, 0);
    expect(budgets.size).toBe(0);
    budgets.acquire('mallory', 0);
    budgets.flooded('mallory', 0);
    budgets.release('mallory', 0);
    expect(budgets.size).toBe(1);
    budgets.flooded('eve', FLOOD_STRIKE_MEMORY_MS + FLOOD_COOLDOWN_MAX_MS + 1);
    expect(budgets.size).toBe(1); // mallory's quiet entry went when eve flooded
  });
});
