import { Annotation, ChangeSet, EditorSelection, EditorState, Prec, StateEffect, StateField, Transaction, type ChangeSpec, type Extension } from '@codemirror/state';
import { Decoration, EditorView, ViewPlugin, WidgetType, keymap, type DecorationSet, type ViewUpdate } from '@codemirror/view';
import type { Change, Op } from '../../ot/types.js';
import type { DocumentSession } from '../document.js';
import type { RemotePresence } from '../presence.js';
import { UndoManager, type UndoOptions } from '../undo.js';

/**
 * CodeMirror 6 binding:
 *
 * ```ts
 * const doc = await client.open(documentId);
 * new EditorView({ parent, doc: doc.text, extensions: [minimalSetup, relayCollab(doc)] });
 * ```
 *
 * Local edits go to the document, remote ones into the editor; others' carets and selections
 * show in their colour with their name; this user's selection and typing go out as presence;
 * Mod-z / Mod-Shift-z / Mod-y undo and redo this user's own edits only. Leave CodeMirror's own
 * `history()` out (it would undo others' edits too).
 */
export interface RelayCollabOptions extends UndoOptions {
  /** Bind Mod-z and friends to the user's own undo (default true). */
  readonly undoKeys?: boolean;
}

/** Marks transactions whose changes are already in the document session (remote, undo, resync). */
const fromRelay = Annotation.define<boolean>();
const setCarets = StateEffect.define<DecorationSet>();

const caretField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(carets, tr) {
    for (const effect of tr.effects) if (effect.is(setCarets)) return effect.value;
    return carets.map(tr.changes);
  },
  provide: (field) => EditorView.decorations.from(field),
});

/** Colours arrive from tokens; only plain colour syntax reaches a style attribute. */
function safeColor(color: string): string {
  return /^#[0-9a-f]{3,8}$/i.test(color) || /^[a-z]{3,20}$/i.test(color) ? color : '#888888';
}

function translucent(color: string): string {
  return /^#[0-9a-f]{6}$/i.test(color) ? `${color}33` : 'rgba(128, 128, 128, 0.2)';
}

class CaretWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly color: string,
    readonly session: string,
  ) {
    super();
  }

  override eq(other: CaretWidget): boolean {
    return other.name === this.name && other.color === this.color && other.session === this.session;
  }

  toDOM(): HTMLElement {
    const caret = document.createElement('span');
    caret.className = 'cm-relay-caret';
    caret.style.borderLeftColor = this.color;
    caret.dataset.session = this.session;
    const label = document.createElement('span');
    label.className = 'cm-relay-caret-label';
    label.style.backgroundColor = this.color;
    label.textContent = this.name;
    caret.append('\u2060', label);
    return caret;
  }

  override ignoreEvent(): boolean {
    return true;
  }
}

const theme = EditorView.baseTheme({
  '.cm-relay-caret': { position: 'relative', borderLeft: '2px solid', marginLeft: '-1px', marginRight: '-1px', pointerEvents: 'none' },
  '.cm-relay-caret-label': {
    position: 'absolute', top: '-1.3em', left: '-2px', padding: '0 4px', borderRadius: '3px 3px 3px 0',
    color: 'white', font: '11px/1.3 system-ui, sans-serif', whiteSpace: 'nowrap', userSelect: 'none', zIndex: '10',
  },
});

/** Sequential ops (each on the result of the one before) as one CodeMirror change set. Formats carry no text: skipped. */
export function opsToChangeSet(ops: Change, length: number): ChangeSet {
  let set = ChangeSet.empty(length);
  for (const op of ops) {
    let spec: ChangeSpec;
    if (op.type === 'insert') spec = { from: op.pos, insert: op.text };
    else if (op.type === 'delete') spec = { from: op.pos, to: op.pos + op.len };
    else continue;
    set = set.compose(ChangeSet.of(spec, set.newLength));
  }
  return set;
}

/** A CodeMirror change set (positions in the old document) as sequential ops: last change first, so earlier positions stay valid. */
export function changeSetToOps(changes: ChangeSet): Change {
  const parts: Array<{ from: number; to: number; text: string }> = [];
  changes.iterChanges((fromA, toA, _fromB, _toB, inserted) => parts.push({ from: fromA, to: toA, text: inserted.toString() }));
  const ops: Op[] = [];
  for (const part of parts.reverse()) {
    if (part.to > part.from) ops.push({ type: 'delete', pos: part.from, len: part.to - part.from });
    if (part.text.length > 0) ops.push({ type: 'insert', pos: part.from, text: part.text });
  }
  return ops;
}

function caretDecorations(presence: readonly RemotePresence[], length: number): DecorationSet {
  const ranges = [];
  for (const p of presence) {
    if (!p.selection) continue;
    const color = safeColor(p.user.color);
    const head = Math.min(p.selection.head, length);
    const from = Math.min(p.selection.anchor, p.selection.head, length);
    const to = Math.min(Math.max(p.selection.anchor, p.selection.head), length);
    if (to > from) ranges.push(Decoration.mark({ class: 'cm-relay-selection', attributes: { style: `background-color: ${translucent(color)}` } }).range(from, to));
    ranges.push(Decoration.widget({ widget: new CaretWidget(p.user.name, color, p.session), side: 1 }).range(head));
  }
  return Decoration.set(ranges, true);
}

/** Where the caret goes after an undo or redo: the end of its last op. */
function caretAfter(ops: Change): number | undefined {
  const last = ops.at(-1);
  if (!last) return undefined;
  return last.type === 'insert' ? last.pos + last.text.length : last.pos;
}

export function relayCollab(doc: DocumentSession, options: RelayCollabOptions = {}): Extension {
  const plugin = ViewPlugin.define((view) => new RelayView(view, doc, options));
  const replay = (which: 'undo' | 'redo') => (view: EditorView): boolean => view.plugin(plugin)?.replay(which) ?? false;
  commands.set(doc, { undo: replay('undo'), redo: replay('redo') });
  const keys = options.undoKeys === false ? [] : [Prec.high(keymap.of([
    { key: 'Mod-z', run: replay('undo'), preventDefault: true },
    { key: 'Mod-y', mac: 'Mod-Shift-z', run: replay('redo'), preventDefault: true },
    { key: 'Mod-Shift-z', run: replay('redo'), preventDefault: true },
  ]))];
  return [EditorState.lineSeparator.of('\n'), caretField, theme, plugin, ...keys];
}

const commands = new WeakMap<DocumentSession, { undo: (view: EditorView) => boolean; redo: (view: EditorView) => boolean }>();

/** Undo this user's last edit in a view bound to `doc` (for menus and buttons); false when there is none. */
export function relayUndo(doc: DocumentSession, view: EditorView): boolean {
  return commands.get(doc)?.undo(view) ?? false;
}

export function relayRedo(doc: DocumentSession, view: EditorView): boolean {
  return commands.get(doc)?.redo(view) ?? false;
}

class RelayView {
  private readonly history: UndoManager;
  private readonly unsubscribe: Array<() => void>;
  private caretsQueued = false;
  private destroyed = false;

  constructor(
    private readonly view: EditorView,
    private readonly doc: DocumentSession,
    options: UndoOptions,
  ) {
    this.history = new UndoManager(doc, options);
    this.unsubscribe = [
      doc.on('change', ({ ops }) => this.applyRemote(ops)),
      doc.on('resynced', () => this.replaceAll()),
      doc.on('presence', () => this.queueCarets()),
    ];
    // Views may not dispatch while being constructed: both wait for a microtask.
    if (view.state.doc.toString() !== doc.text) queueMicrotask(() => this.replaceAll());
    this.queueCarets();
  }

  update(update: ViewUpdate): void {
    let typed = false;
    for (const tr of update.transactions) {
      if (!tr.docChanged || tr.annotation(fromRelay)) continue;
      try {
        this.history.submit(changeSetToOps(tr.changes));
        typed = true;
      } catch (err) {
        // Refused locally (a viewer, a change the relay would refuse): show the document as it is.
        console.warn('relay: local edit refused', err);
        queueMicrotask(() => this.replaceAll());
      }
    }
    if (typed) this.doc.setTyping(true);
    // Only this user's own moves are news: others' edits move the caret on the relay too.
    const local = update.transactions.some((tr) => !tr.annotation(fromRelay) && (tr.selection !== undefined || tr.docChanged));
    if (local) {
      const main = update.state.selection.main;
      this.doc.setSelection({ anchor: main.anchor, head: main.head });
    }
  }

  /** Undo or redo of this user's own edits; true when there was something to do. */
  replay(which: 'undo' | 'redo'): boolean {
    const ops = which === 'undo' ? this.history.undo() : this.history.redo();
    if (!ops) return false;
    const caret = caretAfter(ops);
    this.dispatchApplied(ops, which === 'undo' ? 'undo' : 'redo', caret);
    return true;
  }

  destroy(): void {
    this.destroyed = true;
    for (const off of this.unsubscribe) off();
    this.history.dispose();
    if (!this.doc.closed) this.doc.setSelection(null);
  }

  private applyRemote(ops: Change): void {
    this.dispatchApplied(ops, undefined, undefined);
  }

  private dispatchApplied(ops: Change, userEvent: 'undo' | 'redo' | undefined, caret: number | undefined): void {
    if (this.destroyed) return;
    const changes = opsToChangeSet(ops, this.view.state.doc.length);
    this.view.dispatch({
      changes,
      annotations: [fromRelay.of(true), Transaction.addToHistory.of(false), ...(userEvent ? [Transaction.userEvent.of(userEvent)] : [])],
      ...(caret !== undefined ? { selection: EditorSelection.cursor(Math.min(caret, changes.newLength)) } : {}),
      ...(userEvent ? { scrollIntoView: true } : {}),
    });
    // The editor must hold exactly the session's text: anything else would misplace every later op.
    if (this.view.state.doc.length !== this.doc.length) this.replaceAll();
  }

  private replaceAll(): void {
    if (this.destroyed) return;
    const text = this.doc.text;
    if (this.view.state.doc.toString() === text) return;
    this.view.dispatch({ changes: { from: 0, to: this.view.state.doc.length, insert: text }, annotations: [fromRelay.of(true), Transaction.addToHistory.of(false)] });
    this.history.clear();
  }

  /** Presence can change inside the editor's own update (a local edit moves others' carets): render after it. */
  private queueCarets(): void {
    if (this.caretsQueued) return;
    this.caretsQueued = true;
    queueMicrotask(() => {
      this.caretsQueued = false;
      if (this.destroyed) return;
      this.view.dispatch({ effects: setCarets.of(caretDecorations(this.doc.presence, this.view.state.doc.length)) });
    });
  }
}
