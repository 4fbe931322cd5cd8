// @ts-check
/*
 * Builds the client package (ESM bundles + type declarations) into packages/client/dist and
 * the development demo into dist/demo, and prints the size of each entry point.
 *   node packages/client/build.mjs            package and demo
 *   node packages/client/build.mjs --demo     demo only (part of `npm run build`)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const demoOnly = process.argv.includes('--demo');

const ENTRIES = {
  index: 'src/client/index.ts',
  codemirror: 'src/client/bindings/codemirror.ts',
  textarea: 'src/client/bindings/textarea.ts',
  quill: 'src/client/bindings/quill.ts',
};

/** @param {number} n */
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

/**
 * True when the bundle is newer than every file it was built from (esbuild's own list of
 * inputs, kept beside it): `npm start` then skips the bundling, so a second start is quick.
 * @param {string} outfile @param {string} inputsFile
 */
function demoIsFresh(outfile, inputsFile) {
  if (!existsSync(outfile) || !existsSync(inputsFile)) return false;
  const builtAt = statSync(outfile).mtimeMs;
  /** @type {string[]} */
  const inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
  return inputs.every((file) => existsSync(join(root, file)) && statSync(join(root, file)).mtimeMs < builtAt);
}

async function buildDemo() {
  const outfile = join(root, 'dist/demo/demo.js');
  const inputsFile = join(root, 'dist/demo/inputs.json');
  if (demoIsFresh(outfile, inputsFile)) return;
  const result = await build({ entryPoints: [join(root, 'src/client/demo/main.ts')], bundle: true, minify: true, format: 'esm', target: 'es2022', outfile, metafile: true, logLevel: 'warning', absWorkingDir: root });
  writeFileSync(inputsFile, JSON.stringify(Object.keys(result.metafile.inputs)));
  const size = readFileSync(outfile);
  console.log(`demo bundle ${relative(root, outfile)}: ${kb(size.length)} (${kb(gzipSync(size).length)} gzip)`);
  return result;
}

async function buildPackage() {
  const dist = join(here, 'dist');
  rmSync(dist, { recursive: true, force: true });
  // Splitting: the bindings import the core from a shared chunk instead of carrying a copy.
  const result = await build({
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, path]) => [name, join(root, path)])),
    bundle: true, splitting: true, minify: true, format: 'esm', target: 'es2022', platform: 'browser', outdir: dist,
    external: ['@codemirror/state', '@codemirror/view'], metafile: true, logLevel: 'warning',
  });
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(here, 'tsconfig.json')], { stdio: 'inherit' });
  reportSizes(result.metafile, dist);
}

/**
 * The size of each entry with every chunk it loads, minified and gzipped; bindings also
 * without the core (what they add to an app that has the client already).
 * @param {import('esbuild').Metafile} metafile
 * @param {string} dist
 */
function reportSizes(metafile, dist) {
  /** @param {string} file @param {Set<string>} seen */
  const closure = (file, seen = new Set()) => {
    if (seen.has(file)) return seen;
    seen.add(file);
    for (const imp of metafile.outputs[file]?.imports ?? []) if (!imp.external) closure(imp.path, seen);
    return seen;
  };
  const gz = (/** @type {Set<string>} */ files) => gzipSync(Buffer.concat([...files].map((f) => readFileSync(resolve(root, f))))).length;
  const outputFor = (/** @type {string} */ name) => relative(root, join(dist, `${name}.js`));
  const core = closure(outputFor('index'));
  const lines = [];
  for (const name of Object.keys(ENTRIES)) {
    const files = closure(outputFor(name));
    const own = new Set([...files].filter((f) => !core.has(f)));
    lines.push({ entry: name, 'with deps (gzip)': kb(gz(files)), 'beyond the core (gzip)': name === 'index' ? '-' : kb(own.size ? gz(own) : 0) });
  }
  console.table(lines);
  writeFileSync(join(dist, 'sizes.json'), JSON.stringify(lines, null, 2));
}

mkdirSync(join(root, 'dist'), { recursive: true });
await buildDemo();
if (!demoOnly) await buildPackage();
