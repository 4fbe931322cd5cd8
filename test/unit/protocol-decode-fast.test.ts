import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeClientMessage, decodeClientMessageBySchema, type DecodeResult } from '../../src/protocol/decode.js';
import { quickDecode } from '../../src/protocol/decode-fast.js';

/*
 * The hand-checked path for changes and presence (decode-fast.ts) must not change what the
 * relay accepts or what it answers: for every frame, decodeClientMessage gives exactly what the
 * schema alone gives (decodeClientMessageBySchema, the real zod schemas), down to -0, key order
 * and the error's code and message.
 */

type Json = fc.JsonValue;

// JSON.stringify cannot write these; they are put into the frame's text afterwards.
const NEG_ZERO = '\u0000neg0';
const HUGE = '\u0000huge'; // 1e400, which JSON.parse reads as Infinity
const PROTO = '\u0000proto'; // a "__proto__" key, which JSON.parse makes an own property

function toFrame(value: Json): string {
  return JSON.stringify(value).replaceAll('"\\u0000neg0"', '-0').replaceAll('"\\u0000huge"', '1e400').replaceAll('"\\u0000proto"', '"__proto__"');
}

const DOC = '0f8fad5b-d9cb-469f-a165-70867728950e';
const ACTOR = 'b3c1a2d4-0000-4000-8000-000000000001';

const insert = (pos: number, text: string): Json => ({ type: 'insert', pos, text });
const del = (pos: number, len: number): Json => ({ type: 'delete', pos, len });
const change = (ops: Json[], over: { doc?: string; actor?: string; seq?: Json; rev?: Json } = {}): Json => ({
  type: 'change',
  doc: over.doc ?? DOC,
  clock: { actor: over.actor ?? ACTOR, seq: over.seq ?? 1, rev: over.rev ?? 0 },
  ops,
});

const BASES: readonly Json[] = [
  change([insert(0, 'a')]),
  change([del(3, 1)], { seq: 17, rev: 42 }),
  change([insert(5, 'héllo 👋'), del(0, 2), insert(0, '\n')], { seq: 2 ** 53 - 1, rev: 2 ** 53 - 1 }),
  change([{ type: 'format', pos: 0, len: 3, attrs: { bold: true } }]),
  change([{ type: 'insert', pos: 0, text: 'b', attrs: { bold: true, size: 12, font: 'serif', link: null } }]),
  change([]),
  change([insert(0, 'x')], { doc: DOC.toUpperCase(), actor: ACTOR.toUpperCase() }),
  change([insert(0, 'x')], { actor: '00000000-0000-0000-0000-000000000000' }),
  change([insert(0, 'x')], { actor: 'ffffffff-ffff-ffff-ffff-ffffffffffff' }),
  change([insert(-1, 'x'), del(1.5, -2)]),
  { type: 'presence', doc: DOC, rev: 3 },
  { type: 'presence', doc: DOC, rev: 3, selection: { anchor: 1, head: 4 }, typing: true },
  { type: 'presence', doc: DOC, rev: 0, selection: null, typing: false, data: null },
  { type: 'presence', doc: DOC, rev: 0, data: { avatar: 'a.png', view: [1, 2] } },
  { type: 'join', doc: DOC, rev: 2, acceptContent: true },
  { type: 'leave', doc: DOC },
  { type: 'ping', id: 7 },
  { type: 'auth', token: 'abc' },
];

const LONG_TEXT = 'x'.repeat(5000);
const JUNK: readonly Json[] = [
  0, -1, NEG_ZERO, 1.5, 1e-7, 2 ** 53 - 1, 2 ** 53, 1e21, HUGE, '1', '', 'x', null, true, false, [], {}, [1], { a: 1 },
  { [PROTO]: { polluted: true } }, { constructor: { prototype: { polluted: true } } },
  DOC.toUpperCase(), ACTOR.toUpperCase(), '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'b3c1a2d4-0000-0000-8000-000000000001', 'b3c1a2d4-0000-9000-8000-000000000001', 'b3c1a2d4-0000-4000-c000-000000000001',
  'b3c1a2d400004000800000000000001', `{${ACTOR}}`, `${ACTOR}\n`, `${ACTOR} `, 'g3c1a2d4-0000-4000-8000-000000000001',
  '\ud800', 'a\udc00b', '😀', LONG_TEXT, 'insert', 'delete', 'format', 'change', 'presence',
];
const EXTRA_KEYS = ['extra', PROTO, 'constructor', 'toString', 'hasOwnProperty', 'attrs', 'len', 'text'];

type Path = readonly (string | number)[];

function pathsOf(value: Json, at: Path = []): Path[] {
  const inner = Array.isArray(value)
    ? value.slice(0, 3).flatMap((item, i) => pathsOf(item, [...at, i]))
    : value !== null && typeof value === 'object'
      ? Object.entries(value).flatMap(([key, item]) => pathsOf(item ?? null, [...at, key]))
      : [];
  return [at, ...inner];
}

/** A copy of `value` with the part at `path` given to `edit` (which returns the new part, or undefined to drop a key). */
function edited(value: Json, path: Path, edit: (part: Json) => Json | undefined): Json | undefined {
  const [head, ...rest] = path;
  if (head === undefined) return edit(value);
  if (Array.isArray(value) && typeof head === 'number') {
    const part = edited(value[head] ?? null, rest, edit);
    return part === undefined ? value.filter((_, i) => i !== head) : value.map((item, i) => (i === head ? part : item));
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && typeof head === 'string') {
    const copy: { [key: string]: Json | undefined } = { ...value };
    const part = edited(value[head] ?? null, rest, edit);
    if (part === undefined) delete copy[head];
    else copy[head] = part;
    return copy;
  }
  return value;
}

/** Each base with one part replaced by each junk value, dropped, or given an extra key or element. */
function* mutations(): Generator<Json> {
  for (const base of BASES) {
    yield base;
    for (const path of pathsOf(base)) {
      for (const junk of JUNK) yield edited(base, path, () => junk) ?? null;
      if (path.length > 0) yield edited(base, path, () => undefined) ?? null;
      for (const key of EXTRA_KEYS) {
        yield edited(base, path, (part) => (part !== null && typeof part === 'object' && !Array.isArray(part) ? { ...part, [key]: 1 } : part)) ?? null;
      }
      yield edited(base, path, (part) => (Array.isArray(part) ? [...part, ...JUNK.slice(0, 8)] : part)) ?? null;
      yield edited(base, path, (part) => (Array.isArray(part) ? [] : part)) ?? null;
    }
  }
}

/** Whether the hand-checked path itself decided the frame (for the coverage counts below). */
function takenQuickly(frame: string): boolean {
  const value: unknown = JSON.parse(frame);
  return isJsonObject(value) && typeof value.type === 'string' && quickDecode(value.type, value) !== undefined;
}

function isJsonObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Everything a decoded value is made of, written out: key order (which a re-serialised message
 * keeps), keys holding undefined, -0, and objects that are not plain. toStrictEqual would also
 * compare `constructor` properties, so two parses of `{"constructor":{}}` would differ.
 */
function canonical(value: unknown): string {
  if (Object.is(value, -0)) return '-0';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const plain = Object.getPrototypeOf(value) === Object.prototype ? '' : '(not plain)';
    return `${plain}{${Reflect.ownKeys(value).map((key) => `${String(key)}:${canonical((value as Record<PropertyKey, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function expectSame(frame: string): DecodeResult {
  const reference = decodeClientMessageBySchema(frame);
  const decoded = decodeClientMessage(frame);
  expect(canonical(decoded), frame.length > 300 ? `${frame.slice(0, 300)}…` : frame).toBe(canonical(reference));
  return reference;
}

describe('the hand-checked decoding path against the schema alone', () => {
  it('gives the same result for valid messages and thousands of mutations of them', () => {
    const counts = { frames: 0, accepted: 0, quick: 0, refused: 0 };
    for (const value of mutations()) {
      const frame = toFrame(value);
      const result = expectSame(frame);
      counts.frames++;
      if (result.ok) counts.accepted++;
      else counts.refused++;
      if (takenQuickly(frame)) counts.quick++;
    }
    // Both paths are exercised: many frames taken by hand, many accepted or refused by zod.
    expect(counts.frames).toBeGreaterThan(9_000);
    expect(counts.quick).toBeGreaterThan(800);
    expect(counts.accepted - counts.quick).toBeGreaterThan(1_000);
    expect(counts.refused).toBeGreaterThan(6_000);
  });

  it('gives the same result for number spellings JSON allows and the pathological ones', () => {
    const numbers = ['-0', '0.0', '1.0', '1e0', '1E2', '-0.0', '1e400', '-1e400', '9007199254740991', '9007199254740992', '9007199254740993', '1e-400', '0.1e1', '12345678901234567890'];
    for (const n of numbers) {
      expectSame(`{"type":"change","doc":"${DOC}","clock":{"actor":"${ACTOR}","seq":${n},"rev":${n}},"ops":[{"type":"delete","pos":${n},"len":${n}}]}`);
      expectSame(`{"type":"presence","doc":"${DOC}","rev":${n},"selection":{"anchor":${n},"head":${n}}}`);
    }
  });

  it('gives the same result for large changes and very long texts', () => {
    const ops = Array.from({ length: 1000 }, (_, i) => (i % 2 ? insert(i, String.fromCharCode(97 + (i % 26))) : del(i, 1)));
    expectSame(toFrame(change(ops)));
    expectSame(toFrame(change([...ops, { type: 'format', pos: 0, len: 1, attrs: { i: true } }])));
    expectSame(toFrame(change([insert(0, 'y'.repeat(1_000_000))])));
    expectSame(toFrame(change([insert(0, `${'\ud83d'.repeat(1000)}${'\ude00'.repeat(1000)}`)])));
  });

  it('gives the same result for random messages built from valid and junk parts', () => {
    const part = <T extends Json>(valid: fc.Arbitrary<T>): fc.Arbitrary<Json> => fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...JUNK) }, { weight: 1, arbitrary: fc.jsonValue() });
    const uuid = fc.oneof(fc.uuid(), fc.uuid().map((u) => u.toUpperCase()), fc.constantFrom(DOC, ACTOR));
    const number = fc.oneof(fc.nat(), fc.integer(), fc.double({ noNaN: true }), fc.constant(NEG_ZERO), fc.constant(2 ** 53));
    const op = part(
      fc.oneof(
        fc.record({ type: fc.constant('insert'), pos: number, text: fc.string({ unit: 'binary' }) }),
        fc.record({ type: fc.constant('delete'), pos: number, len: number }),
        fc.record({ type: fc.constant('insert'), pos: number, text: fc.string(), attrs: fc.dictionary(fc.string(), fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null))) }),
      ),
    );
    const changeMessage = fc.record({
      type: fc.constant('change'),
      doc: part(uuid),
      clock: part(fc.record({ actor: part(uuid), seq: part(number), rev: part(number) }, { requiredKeys: [] })),
      ops: part(fc.array(op, { maxLength: 6 })),
    }, { requiredKeys: ['type'] });
    const presenceMessage = fc.record({
      type: fc.constant('presence'),
      doc: part(uuid),
      rev: part(number),
      selection: part(fc.oneof(fc.constant(null), fc.record({ anchor: number, head: number }))),
      typing: part(fc.boolean()),
      data: part(fc.oneof(fc.constant(null), fc.dictionary(fc.string(), fc.jsonValue()))),
    }, { requiredKeys: ['type'] });
    const withExtra = (message: fc.Arbitrary<{ [key: string]: Json }>): fc.Arbitrary<Json> =>
      fc.tuple(message, fc.option(fc.constantFrom(...EXTRA_KEYS), { freq: 5 })).map(([m, extra]) => (extra === null ? m : { ...m, [extra]: 0 }));
    fc.assert(
      fc.property(fc.oneof(withExtra(changeMessage), withExtra(presenceMessage)), (message) => {
        expectSame(toFrame(message));
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses what is not a message the same way, without throwing', () => {
    for (const frame of ['', 'nul', '[]', '"change"', '{}', '{"type":1}', '{"type":"nope"}', '{"type":"change"}', '{"type":"presence"}', '{"type":"__proto__"}', '{"type":"constructor"}', '{"__proto__":{"type":"change"}}']) {
      expectSame(frame);
    }
  });
});
