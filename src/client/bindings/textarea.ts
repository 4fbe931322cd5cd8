import { transformPosition } from '../../ot/index.js';
import type { DocumentSession } from '../document.js';
import { UndoManager, type UndoOptions } from '../undo.js';
import { diffToOps } from './text-diff.js';

/** The part of a `<textarea>` or `<input>` the binding uses (so tests can pass a stand-in). */
export interface TextInputLike {
  value: string;
  selectionStart: number | null;
  selectionEnd: number | null;
  disabled: boolean;
  setSelectionRange(start: number, end: number): void;
  addEventListener(type: string, listener: (event: TextInputEvent) => void): void;
  removeEventListener(type: string, listener: (event: TextInputEvent) => void): void;
}

/** The fields of keyboard and input events the binding reads. */
export interface TextInputEvent {
  readonly key?: string;
  readonly ctrlKey?: boolean;
  readonly metaKey?: boolean;
  readonly shiftKey?: boolean;
  readonly inputType?: string;
  preventDefault(): void;
}

/**
 * Binds a plain `<textarea>` or `<input>` to a document: typing becomes the smallest delete +
 * insert, remote edits replace the value while the caret stays on the same characters, the
 * selection goes out as presence, and Ctrl/Cmd-Z (and Shift-Z, Y) undo and redo this user's
 * own edits. Returns a function that unbinds.
 */
export function bindTextarea(doc: DocumentSession, element: TextInputLike, options: UndoOptions = {}): () => void {
  const history = new UndoManager(doc, options);
  let shown = doc.text;
  element.value = shown;
  element.disabled = false;

  const sendSelection = (): void => {
    doc.setSelection({ anchor: element.selectionStart ?? 0, head: element.selectionEnd ?? 0 });
  };
  const showDocument = (caret?: number): void => {
    shown = doc.text;
    element.value = shown;
    if (caret !== undefined) element.setSelectionRange(caret, caret);
  };
  const onInput = (): void => {
    const ops = diffToOps(shown, element.value);
    try {
      if (ops.length > 0) history.submit(ops);
      doc.setTyping(true);
    } catch {
      // Refused (a viewer): the field shows the document again.
    }
    showDocument(ops.length > 0 ? undefined : element.selectionStart ?? 0);
    sendSelection();
  };
  const replay = (which: 'undo' | 'redo'): void => {
    const ops = which === 'undo' ? history.undo() : history.redo();
    const last = ops?.at(-1);
    if (!last) return;
    showDocument(last.type === 'insert' ? last.pos + last.text.length : last.pos);
    sendSelection();
  };
  const onKeyDown = (event: TextInputEvent): void => {
    if (!(event.ctrlKey || event.metaKey)) return;
    const key = event.key?.toLowerCase();
    if (key === 'z') {
      event.preventDefault();
      replay(event.shiftKey ? 'redo' : 'undo');
    } else if (key === 'y') {
      event.preventDefault();
      replay('redo');
    }
  };
  // The browser's own undo would restore values that no longer exist after remote edits.
  const onBeforeInput = (event: TextInputEvent): void => {
    if (event.inputType === 'historyUndo' || event.inputType === 'historyRedo') {
      event.preventDefault();
      replay(event.inputType === 'historyUndo' ? 'undo' : 'redo');
    }
  };
  const offChange = doc.on('change', ({ ops }) => {
    const start = transformPosition(element.selectionStart ?? 0, ops, 'before');
    const end = transformPosition(element.selectionEnd ?? 0, ops, 'before');
    showDocument();
    element.setSelectionRange(start, end);
  });
  const offResync = doc.on('resynced', () => showDocument());
  const listeners: Array<[string, (event: TextInputEvent) => void]> = [
    ['input', onInput],
    ['keydown', onKeyDown],
    ['beforeinput', onBeforeInput],
    ['keyup', sendSelection],
    ['mouseup', sendSelection],
    ['focus', sendSelection],
    ['select', sendSelection],
  ];
  for (const [type, listener] of listeners) element.addEventListener(type, listener);
  return () => {
    for (const [type, listener] of listeners) element.removeEventListener(type, listener);
    offChange();
    offResync();
    history.dispose();
  };
}

export { diffToOps };
