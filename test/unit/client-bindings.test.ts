import { ChangeSet, EditorState } from '@codemirror/state';
import { describe, expect, it } from 'vitest';
import { changeSetToOps, opsToChangeSet } from '../../src/client/bindings/codemirror.js';
import { changeToDeltas, clampToLength, deltaToOps, docToDelta } from '../../src/client/bindings/quill.js';
import { bindTextarea, type TextInputEvent, type TextInputLike } from '../../src/client/bindings/textarea.js';
import { diffToOps } from '../../src/client/bindings/text-diff.js';
import { DocumentSession, type DocumentMessage, type DocumentTransport } from '../../src/client/document.js';
import { silentLogger } from '../../src/client/logger.js';
import { UndoManager } from '../../src/client/undo.js';
import { apply, docFromText, docText } from '../../src/ot/index.js';
import type { Change } from '../../src/ot/types.js';

const DOC = '00000000-0000-4000-8000-0000000000aa';
const ACTOR = '00000000-0000-4000-8000-0000000000bb';
const OTHER = '00000000-0000-4000-8000-0000000000cc';

/** A transport that acks every change at once, as a relay with nobody else would. */
class AckingTransport implements DocumentTransport {
  connected = true;
  maxOps = 100;
  maxMessageBytes = 1_048_576;
  cursorThrottleMs = 0;
  readonly logger = silentLogger;
  doc: DocumentSession | undefined;
  rev = 0;
  send(message: DocumentMessage): boolean {
    if (message.type === 'change') {
      const { seq } = message.clock;
      const rev = this.rev;
      this.rev += message.ops.length;
      queueMicrotask(() => this.doc?.handle({ type: 'ack', doc: DOC, seq, rev, count: message.ops.length }));
    }
    return true;
  }
  retryDelayMs(): number {
    return 1000;
  }
  reconnect(): void {}
}

async function session(text: string): Promise<{ doc: DocumentSession; remote: (ops: Change) => Promise<void> }> {
  const transport = new AckingTransport();
  const doc = new DocumentSession(DOC, ACTOR, transport);
  transport.doc = doc;
  doc.handle({ type: 'joined', doc: DOC, rev: 0, role: 'editor', presence: [], content: text ? docFromText(text) : [] });
  let seq = 0;
  const remote = async (ops: Change): Promise<void> => {
    await doc.whenSynced();
    doc.handle({ type: 'change', doc: DOC, rev: transport.rev, ops, clock: { actor: OTHER, seq: ++seq }, user: 'bob' });
    transport.rev += ops.length;
  };
  return { doc, remote };
}

describe('UndoManager', () => {
  it('undoes only this user\'s edit after remote edits moved it, and redoes it', async () => {
    let now = 0;
    const { doc, remote } = await session('hello');
    const undo = new UndoManager(doc, { now: () => now });
    undo.submit([{ type: 'insert', pos: 5, text: ' world' }]);
    await remote([{ type: 'insert', pos: 0, text: 'Bob: ' }]);
    await remote([{ type: 'insert', pos: 16, text: '!' }]);
    expect(doc.text).toBe('Bob: hello world!');
    now = 1000;
    expect(undo.undo()).toEqual([{ type: 'delete', pos: 10, len: 6 }]);
    expect(doc.text).toBe('Bob: hello!');
    await remote([{ type: 'delete', pos: 0, len: 5 }]);
    undo.redo();
    expect(doc.text).toBe('hello world!');
    expect(undo.canRedo).toBe(false);
  });

  it('groups quick typing into one step and drops a step others deleted entirely', async () => {
    let now = 0;
    const { doc, remote } = await session('');
    const undo = new UndoManager(doc, { now: () => now });
    for (const ch of 'abc') {
      undo.submit([{ type: 'insert', pos: doc.length, text: ch }]);
      now += 100;
    }
    now += 1000;
    undo.submit([{ type: 'insert', pos: 3, text: 'XY' }]);
    await remote([{ type: 'delete', pos: 3, len: 2 }]);
    expect(doc.text).toBe('abc');
    expect(undo.undo()).toEqual([{ type: 'delete', pos: 0, len: 3 }]);
    expect(doc.text).toBe('');
    expect(undo.canUndo).toBe(false);
  });
});

describe('text diff', () => {
  it('finds the smallest delete + insert, never splitting a surrogate pair', () => {
    expect(diffToOps('hello', 'help')).toEqual([{ type: 'delete', pos: 3, len: 2 }, { type: 'insert', pos: 3, text: 'p' }]);
    expect(diffToOps('ab', 'ab')).toEqual([]);
    const ops = diffToOps('a😀b', 'a😁b');
    expect(ops).toEqual([{ type: 'delete', pos: 1, len: 2 }, { type: 'insert', pos: 1, text: '😁' }]);
    for (const [a, b] of [['', 'xyz'], ['xyz', ''], ['aaa', 'aa'], ['abcabc', 'abXabc']] as const) {
      expect(docText(apply(docFromText(a), diffToOps(a, b)))).toBe(b);
    }
  });
});

class FakeTextarea implements TextInputLike {
  value = '';
  selectionStart: number | null = 0;
  selectionEnd: number | null = 0;
  disabled = true;
  private readonly listeners = new Map<string, Array<(event: TextInputEvent) => void>>();
  setSelectionRange(start: number, end: number): void {
    this.selectionStart = start;
    this.selectionEnd = end;
  }
  addEventListener(type: string, listener: (event: TextInputEvent) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  removeEventListener(type: string, listener: (event: TextInputEvent) => void): void {
    this.listeners.set(type, (this.listeners.get(type) ?? []).filter((l) => l !== listener));
  }
  fire(type: string, event: Partial<TextInputEvent> = {}): boolean {
    let prevented = false;
    for (const l of this.listeners.get(type) ?? []) l({ ...event, preventDefault: () => (prevented = true) });
    return prevented;
  }
  type(pos: number, text: string): void {
    this.value = this.value.slice(0, pos) + text + this.value.slice(pos);
    this.setSelectionRange(pos + text.length, pos + text.length);
    this.fire('input');
  }
}

describe('textarea binding', () => {
  it('sends typing, keeps the caret on its characters through remote edits, and undoes only local text', async () => {
    const { doc, remote } = await session('world');
    const area = new FakeTextarea();
    const unbind = bindTextarea(doc, area, { groupMs: 0 });
    expect(area.value).toBe('world');
    expect(area.disabled).toBe(false);
    area.type(5, '!');
    expect(doc.text).toBe('world!');
    area.setSelectionRange(2, 2);
    await remote([{ type: 'insert', pos: 0, text: 'hello ' }]);
    expect(area.value).toBe('hello world!');
    expect([area.selectionStart, area.selectionEnd]).toEqual([8, 8]);
    expect(area.fire('keydown', { key: 'z', ctrlKey: true })).toBe(true);
    expect(doc.text).toBe('hello world');
    expect(area.value).toBe('hello world');
    unbind();
    area.type(0, 'x');
    expect(doc.text).toBe('hello world');
  });
});

describe('CodeMirror change sets', () => {
  it('turn into sequential ops and back, to the same document', () => {
    const state = EditorState.create({ doc: 'one two three' });
    const changes = ChangeSet.of([{ from: 0, to: 3, insert: 'ONE' }, { from: 8, insert: '2.5 ' }, { from: 13, insert: '!' }], state.doc.length);
    const ops = changeSetToOps(changes);
    const expected = changes.apply(state.doc).toString();
    expect(docText(apply(docFromText(state.doc.toString()), ops))).toBe(expected);
    expect(opsToChangeSet(ops, state.doc.length).apply(state.doc).toString()).toBe(expected);
  });
});

describe('Quill Delta adapter', () => {
  it('maps one-pass Deltas to sequential ops and ops back to Deltas, attributes as formats', () => {
    const before = docFromText('Hello world\n');
    const delta = { ops: [{ retain: 6 }, { retain: 5, attributes: { bold: true } }, { insert: '!' }, { delete: 1 }, { insert: { image: 'https://x/y.png' } }] };
    const ops = deltaToOps(delta);
    expect(ops).toEqual([
      { type: 'format', pos: 6, len: 5, attrs: { bold: true } },
      { type: 'insert', pos: 11, text: '!' },
      { type: 'delete', pos: 12, len: 1 },
      { type: 'insert', pos: 12, text: '\uFFFC', attrs: { 'embed:image': 'https://x/y.png' } },
    ]);
    const after = apply(before, ops);
    expect(docToDelta(after).ops).toEqual([{ insert: 'Hello ' }, { insert: 'world', attributes: { bold: true } }, { insert: '!' }, { insert: { image: 'https://x/y.png' } }]);
    expect(changeToDeltas([{ type: 'delete', pos: 2, len: 1 }, { type: 'format', pos: 0, len: 1, attrs: { header: 1 } }])).toEqual([
      { ops: [{ retain: 2 }, { delete: 1 }] },
      { ops: [{ retain: 1, attributes: { header: 1 } }] },
    ]);
  });

  it('leaves out what touches Quill\'s final newline', () => {
    expect(clampToLength([{ type: 'format', pos: 3, len: 2, attrs: { header: 1 } }, { type: 'delete', pos: 4, len: 1 }], 4)).toEqual([{ type: 'format', pos: 3, len: 1, attrs: { header: 1 } }]);
  });
});
