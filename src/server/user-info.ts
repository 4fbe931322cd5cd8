import type { Principal } from '../auth/verify.js';
import type { UserInfo } from '../protocol/messages.js';

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#469990', '#9a6324', '#800000', '#808000', '#000075'];

/** Name and colour shown to others: from the token's claims, or a stable colour per user. */
export function userInfoFrom(principal: Principal): UserInfo {
  const claimed = principal.claims.color;
  const color = typeof claimed === 'string' && /^#[0-9a-fA-F]{6}$/.test(claimed) ? claimed : PALETTE[hash(principal.userId) % PALETTE.length] ?? '#4363d8';
  return { id: principal.userId, name: principal.name, color };
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
