/**
 * The drain comparison as an SVG bar chart, written by the benchmark itself (no chart package):
 * one bar per configuration, the median rate over the rounds, best configurations in full colour.
 * @module
 */
import type { DrainResult } from '../measures/drain.js';

const COLOURS: Record<string, string> = {
  gta: '#2563eb',
  'graphile-worker': '#d97706',
  'graphile-worker@0.18': '#b45309',
  'pg-boss': '#059669',
  'pg-boss@12': '#047857',
  'plain-sql': '#6b7280',
};

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function drainChart(results: DrainResult[], title: string): string {
  const rows = results.filter((row) => row.rates.length > 0).sort((a, b) => b.median - a.median);
  const width = 760;
  const labelWidth = 230;
  const barArea = width - labelWidth - 90;
  const rowHeight = 30;
  const top = 56;
  const height = top + rows.length * rowHeight + 40;
  const max = Math.max(...rows.map((row) => row.median), 1);
  const bars = rows.map((row, index) => {
    const y = top + index * rowHeight;
    const length = Math.max(1, (row.median / max) * barArea);
    const colour = COLOURS[row.system] ?? '#6b7280';
    const label = `${row.system} ${row.variant}${row.capped ? ' (time cap)' : ''}`;
    return [
      `<text x="${labelWidth - 8}" y="${y + 19}" text-anchor="end">${escapeXml(label)}</text>`,
      `<rect x="${labelWidth}" y="${y + 5}" width="${length.toFixed(1)}" height="${rowHeight - 10}" fill="${colour}"${row.best ? '' : ' fill-opacity="0.45"'}/>`,
      `<text x="${(labelWidth + length + 6).toFixed(1)}" y="${y + 19}">${Math.round(row.median).toLocaleString('en-US')}/s</text>`,
    ].join('\n  ');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="13">
  <title>${escapeXml(title)}</title>
  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="16" y="26" font-size="16" font-weight="600">${escapeXml(title)}</text>
  <text x="16" y="44" fill="#4b5563">Tasks per second, median over the rounds; faded bars are not the system's best configuration.</text>
  ${bars.join('\n  ')}
  <text x="16" y="${height - 14}" fill="#4b5563">Same Postgres, same process, side by side; one process, concurrency 10, no-op tasks.</text>
</svg>
`;
}
