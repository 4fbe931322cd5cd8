/**
 * One build's OT core timed in a thread of its own (bench:ot's before/after table): its own V8
 * isolate, so its JIT state and heap are its own. Loading two builds into one isolate made the
 * figures depend on load order (the later build measured up to 8× faster on the same code).
 * workerData: the build's dist folder, or null for this build. Answers each EditTask with
 * the median µs per edit.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { rng } from '../harness/rng.js';
import { loadCore, makeRuns, thisCore, timeTree, warmUp, type EditTask } from './ot-edits.js';

const dir = workerData as string | null;
const core = dir === null ? thisCore : await loadCore(dir);
warmUp(core, rng(5));
parentPort?.on('message', (task: EditTask) => {
  const doc = core.fromRuns(makeRuns(task.chars, task.runs, rng(task.seed)));
  parentPort?.postMessage(timeTree(doc, task.kind, rng(task.seed + 1), core));
});
parentPort?.postMessage('ready');
