// Prints the size of the bundle `npm run build` wrote, raw and gzipped. Workers limit a script's
// gzipped size (3 MiB on the free plan, 10 MiB on paid ones), and a smaller one starts faster.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const bundle = readFileSync(new URL('../dist/index.js', import.meta.url));
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
console.log(`dist/index.js: ${kib(bundle.length)} raw, ${kib(gzipSync(bundle, { level: 9 }).length)} gzip`);
