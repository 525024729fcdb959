import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TASK_STATES, TRANSITIONS } from '../src/index.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('the state machine in README.md', () => {
  it('lists every transition of core/src/states.ts in its table, and no other', () => {
    const tableRows = readme
      .split('\n')
      .filter((line) => /^\| (initialized|running|succeeded|failed|cancelled) \|/.test(line))
      .map((line) => line.trim());
    const expected = TRANSITIONS.map((t) => `| ${t.from} | ${t.to} | ${t.name} | ${t.by} |`);
    expect(tableRows).toEqual(expected);
  });

  it('draws each pair of states once in the diagram, labelled with the transitions between them', () => {
    const arrows = readme
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => /^(initialized|running|succeeded|failed|cancelled) --> /.test(line));
    const pairs = new Map<string, string[]>();
    for (const t of TRANSITIONS) {
      const pair = `${t.from} --> ${t.to}`;
      const names = pairs.get(pair) ?? [];
      if (!names.includes(t.name)) names.push(t.name);
      pairs.set(pair, names);
    }
    expect(arrows).toEqual([...pairs].map(([pair, names]) => `${pair}: ${names.join(' / ')}`));
  });

  it('names only known states', () => {
    for (const t of TRANSITIONS) {
      expect(TASK_STATES).toContain(t.from);
      expect(TASK_STATES).toContain(t.to);
    }
  });
});
