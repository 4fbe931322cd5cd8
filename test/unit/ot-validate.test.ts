import { describe, expect, it } from 'vitest';
import {
  apply,
  docFromText,
  isWellFormedText,
  normalize,
  OtError,
  validateChange,
  validateChangeShape,
  type OtErrorCode,
} from '../../src/ot/index.js';

const doc = normalize([{ text: 'ab😀c' }, { text: 'de', attrs: { bold: true } }]); // length 7, pair at 2..4

function codeOf(fn: () => void): OtErrorCode | 'ok' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (e instanceof OtError) {
      expect(e.message.length).toBeGreaterThan(5);
      return e.code;
    }
    throw e;
  }
}

const cases: [string, unknown, OtErrorCode | 'ok'][] = [
  ['valid mix', [{ type: 'insert', pos: 7, text: 'x', attrs: { bold: true } }, { type: 'format', pos: 0, len: 8, attrs: { bold: null, size: 2 } }, { type: 'delete', pos: 2, len: 2 }], 'ok'],
  ['not an array', { type: 'insert', pos: 0, text: 'x' }, 'invalid_op'],
  ['null', null, 'invalid_op'],
  ['empty', [], 'empty_change'],
  ['too many', Array.from({ length: 11 }, () => ({ type: 'insert', pos: 0, text: 'x' })), 'too_many_ops'],
  ['op not object', ['insert'], 'invalid_op'],
  ['op array', [[]], 'invalid_op'],
  ['op null', [null], 'invalid_op'],
  ['unknown type', [{ type: 'replace', pos: 0, len: 1 }], 'invalid_op'],
  ['extra field', [{ type: 'delete', pos: 0, len: 1, text: 'a' }], 'invalid_op'],
  ['negative pos', [{ type: 'delete', pos: -1, len: 1 }], 'invalid_op'],
  ['fractional pos', [{ type: 'insert', pos: 0.5, text: 'x' }], 'invalid_op'],
  ['string pos', [{ type: 'insert', pos: '0', text: 'x' }], 'invalid_op'],
  ['NaN len', [{ type: 'delete', pos: 0, len: Number.NaN }], 'invalid_op'],
  ['zero len delete', [{ type: 'delete', pos: 0, len: 0 }], 'invalid_op'],
  ['zero len format', [{ type: 'format', pos: 0, len: 0, attrs: { bold: true } }], 'invalid_op'],
  ['empty insert', [{ type: 'insert', pos: 0, text: '' }], 'invalid_op'],
  ['non-string text', [{ type: 'insert', pos: 0, text: 5 }], 'invalid_op'],
  ['lone high surrogate', [{ type: 'insert', pos: 0, text: 'a\uD83D' }], 'invalid_op'],
  ['lone low surrogate', [{ type: 'insert', pos: 0, text: '\uDE00b' }], 'invalid_op'],
  ['insert null attr', [{ type: 'insert', pos: 0, text: 'x', attrs: { bold: null } }], 'invalid_op'],
  ['attrs array', [{ type: 'format', pos: 0, len: 1, attrs: [] }], 'invalid_op'],
  ['attrs missing on format', [{ type: 'format', pos: 0, len: 1 }], 'invalid_op'],
  ['attr object value', [{ type: 'format', pos: 0, len: 1, attrs: { x: {} } }], 'invalid_op'],
  ['attr infinite', [{ type: 'format', pos: 0, len: 1, attrs: { x: Infinity } }], 'invalid_op'],
  ['empty key', [{ type: 'format', pos: 0, len: 1, attrs: { '': true } }], 'invalid_op'],
  ['long key', [{ type: 'format', pos: 0, len: 1, attrs: { ['k'.repeat(65)]: true } }], 'invalid_op'],
  ['64-char key ok', [{ type: 'format', pos: 0, len: 1, attrs: { ['k'.repeat(64)]: true } }], 'ok'],
  ['__proto__ key', JSON.parse('[{"type":"format","pos":0,"len":1,"attrs":{"__proto__":true}}]'), 'invalid_op'],
  ['class instance attrs', [{ type: 'format', pos: 0, len: 1, attrs: new Date() }], 'invalid_op'],
  ['insert past end', [{ type: 'insert', pos: 8, text: 'x' }], 'out_of_range'],
  ['insert at end', [{ type: 'insert', pos: 7, text: 'x' }], 'ok'],
  ['delete past end', [{ type: 'delete', pos: 5, len: 3 }], 'out_of_range'],
  ['range after earlier delete', [{ type: 'delete', pos: 0, len: 2 }, { type: 'format', pos: 3, len: 3, attrs: { a: 1 } }], 'out_of_range'],
  ['range after earlier insert', [{ type: 'insert', pos: 0, text: 'xy' }, { type: 'delete', pos: 7, len: 2 }], 'ok'],
  ['insert splitting pair', [{ type: 'insert', pos: 3, text: 'x' }], 'surrogate_split'],
  ['delete start splitting pair', [{ type: 'delete', pos: 3, len: 1 }], 'surrogate_split'],
  ['delete end splitting pair', [{ type: 'delete', pos: 1, len: 2 }], 'surrogate_split'],
  ['format splitting pair', [{ type: 'format', pos: 0, len: 3, attrs: { bold: true } }], 'surrogate_split'],
  ['pair created by the change itself', [{ type: 'insert', pos: 0, text: '😀' }, { type: 'delete', pos: 1, len: 1 }], 'surrogate_split'],
  ['whole pair ok', [{ type: 'delete', pos: 2, len: 2 }], 'ok'],
];

describe('validateChange', () => {
  it.each(cases)('%s', (_name, change, expected) => {
    expect(codeOf(() => validateChange(doc, change, 10))).toBe(expected);
  });

  it('apply enforces ranges and surrogate boundaries too, without mutating the doc', () => {
    const before = JSON.stringify(doc);
    expect(codeOf(() => apply(doc, [{ type: 'insert', pos: 3, text: 'x' }]))).toBe('surrogate_split');
    expect(codeOf(() => apply(doc, [{ type: 'insert', pos: 0, text: 'x' }, { type: 'delete', pos: 7, len: 2 }]))).toBe('out_of_range');
    expect(JSON.stringify(doc)).toBe(before);
  });

  it('validateChangeShape checks lengths when given a base length', () => {
    expect(codeOf(() => validateChangeShape([{ type: 'delete', pos: 0, len: 3 }], 10, 2))).toBe('out_of_range');
    expect(codeOf(() => validateChangeShape([{ type: 'delete', pos: 0, len: 3 }], 10))).toBe('ok');
  });
});

describe('text helpers', () => {
  it('isWellFormedText', () => {
    expect(isWellFormedText('a😀b')).toBe(true);
    expect(isWellFormedText('')).toBe(true);
    expect(isWellFormedText('\uD83D')).toBe(false);
    expect(isWellFormedText('\uDE00\uD83D')).toBe(false);
    expect(isWellFormedText('x\uD83D\uD83D\uDE00')).toBe(false);
  });

  it('docFromText normalizes and rejects lone surrogates', () => {
    expect(docFromText('')).toEqual([]);
    expect(docFromText('ab', {})).toEqual([{ text: 'ab' }]);
    expect(docFromText('ab', { bold: true, x: null })).toEqual([{ text: 'ab', attrs: { bold: true } }]);
    expect(codeOf(() => docFromText('\uD83D'))).toBe('invalid_op');
  });
});
