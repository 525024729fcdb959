// Imports every entry point the installed gta packages export, as Node resolves them, and prints
// each one's export names: an exports target that is missing or fails to load fails here.
import { readFile } from 'node:fs/promises';

const loaded = {};
for (const name of process.argv.slice(2)) {
  const manifest = JSON.parse(await readFile(`node_modules/${name}/package.json`, 'utf8'));
  for (const subpath of Object.keys(manifest.exports)) {
    if (subpath === './package.json') continue;
    const specifier = name + subpath.slice(1);
    loaded[specifier] = Object.keys(await import(specifier)).sort();
  }
}
console.log(JSON.stringify(loaded));
