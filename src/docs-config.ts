/** `npm run docs:config`: rewrites the README's configuration table from src/config.ts. */
import { readFileSync, writeFileSync } from 'node:fs';
import { configTableMarkdown } from './config.js';

const file = new URL('../../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const start = '<!-- config-table:start -->';
const end = '<!-- config-table:end -->';
const before = readme.slice(0, readme.indexOf(start) + start.length);
const after = readme.slice(readme.indexOf(end));
writeFileSync(file, `${before}\n${configTableMarkdown()}\n${after}`);
