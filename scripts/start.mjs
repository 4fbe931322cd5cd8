// @ts-check
/*
 * `npm start`: builds what changed, then runs the relay in this same process.
 *
 * `tsc -b` needs about a second of CPU even when nothing changed (it re-reads its build info
 * and checks every file), and a second `node` process costs its own start-up. Comparing
 * modification times against a stamp written after the last good build takes milliseconds,
 * so a start with nothing to build reaches "relay listening" in well under a second of ours.
 * Only synchronous file-system calls run before the relay starts: main.js sets
 * UV_THREADPOOL_SIZE, which libuv reads when its pool first starts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const stampFile = join(root, 'dist/.start-stamp');

/** The compiler's inputs: what tsconfig.build.json includes, and the files that configure it. */
const SOURCE_DIRS = ['src', 'bench', 'harness', 'examples'];
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json'];

/** @param {string} dir @returns {number} the newest modification time under dir (0 if absent) */
function newestUnder(dir) {
  if (!existsSync(dir)) return 0;
  let newest = statSync(dir).mtimeMs; // a deleted file changes only its directory
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestUnder(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function compiledIsFresh() {
  if (!existsSync(stampFile) || !existsSync(join(root, 'dist/src/main.js'))) return false;
  const builtAt = statSync(stampFile).mtimeMs;
  const newestInput = Math.max(
    ...SOURCE_DIRS.map((dir) => newestUnder(join(root, dir))),
    ...CONFIG_FILES.map((file) => (existsSync(join(root, file)) ? statSync(join(root, file)).mtimeMs : 0)),
  );
  return newestInput < builtAt;
}

/** Same test as packages/client/build.mjs makes, without loading esbuild when nothing changed. */
function demoIsFresh() {
  const outfile = join(root, 'dist/demo/demo.js');
  const inputsFile = join(root, 'dist/demo/inputs.json');
  if (!existsSync(outfile) || !existsSync(inputsFile)) return false;
  const builtAt = statSync(outfile).mtimeMs;
  /** @type {unknown} */
  const inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
  return Array.isArray(inputs) && inputs.every((file) => typeof file === 'string' && existsSync(join(root, file)) && statSync(join(root, file)).mtimeMs < builtAt);
}

/** @param {string} command @param {string[]} args */
function runOrExit(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

if (!compiledIsFresh()) {
  const startedAt = Date.now();
  runOrExit(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json']);
  // Stamped with the time the build started: a file saved during the build counts as changed.
  writeFileSync(stampFile, '');
  utimesSync(stampFile, new Date(startedAt), new Date(startedAt));
}
if (!demoIsFresh()) runOrExit(process.execPath, [join(root, 'packages/client/build.mjs'), '--demo']);

await import(pathToFileURL(join(root, 'dist/src/main.js')).href);
