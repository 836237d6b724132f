/**
 * The results chart as a hand-written SVG: one group of horizontal bars per scenario, each bar Culex's advantage
 * over one reference on a log scale centred on 1x (right of the line: Culex is better).
 */
import type { ChartGroup } from './report.js';

const COLORS: Record<string, string> = {
  Mosquitto: '#3b6fb6',
  Aedes: '#e08a2c',
  'MQTT.js': '#3a9a4a',
  'Culex in memory': '#8a5cc2',
};

const LABEL_WIDTH = 360;
const PLOT_WIDTH = 520;
const BAR = 14;
const GAP = 10;
const TOP = 56;

const escape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chartSvg(groups: ChartGroup[], subtitle: string): string {
  // A ratio of 0 or infinity (a broker that delivered nothing) cannot sit on a log scale: such bars are left out.
  const shown = groups
    .map((g) => ({ label: g.label, bars: g.bars.filter((b) => Number.isFinite(b.value) && b.value > 0) }))
    .filter((g) => g.bars.length > 0);
  const values = shown.flatMap((g) => g.bars.map((b) => b.value));
  // Extra room on the left for the value labels of bars below 1x.
  const lo = Math.log2(Math.min(1, ...values) / 1.8);
  const hi = Math.log2(Math.max(1, ...values) * 1.3);
  const x = (v: number): number => LABEL_WIDTH + ((Math.log2(v) - lo) / (hi - lo)) * PLOT_WIDTH;
  const rows = shown.reduce((n, g) => n + g.bars.length, 0);
  const height = TOP + rows * BAR + shown.length * GAP + 60;
  const width = LABEL_WIDTH + PLOT_WIDTH + 70;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Culex relative to Mosquitto, Aedes and MQTT.js (log scale; right of 1x = Culex better)</text>`,
    `<text x="10" y="38" fill="#555">${escape(subtitle)}</text>`,
  ];
  const axisBottom = height - 40;
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    const v = 2 ** e;
    const px = x(v).toFixed(1);
    out.push(`<line x1="${px}" y1="${TOP - 6}" x2="${px}" y2="${axisBottom}" stroke="${e === 0 ? '#000' : '#ddd'}"/>`);
    out.push(`<text x="${px}" y="${axisBottom + 14}" text-anchor="middle" fill="#444">${v >= 1 ? v : `1/${1 / v}`}x</text>`);
  }
  let y = TOP;
  for (const group of shown) {
    const groupHeight = group.bars.length * BAR;
    out.push(`<text x="${LABEL_WIDTH - 8}" y="${(y + groupHeight / 2 + 4).toFixed(1)}" text-anchor="end">${escape(group.label)}</text>`);
    for (const bar of group.bars) {
      const x0 = x(1);
      const x1 = x(bar.value);
      const left = Math.min(x0, x1);
      out.push(
        `<rect x="${left.toFixed(1)}" y="${y + 1}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${BAR - 2}" fill="${COLORS[bar.against] ?? '#777'}"><title>${escape(`${group.label}: ${bar.value.toFixed(2)}x vs ${bar.against}`)}</title></rect>`,
      );
      const labelX = bar.value >= 1 ? x1 + 4 : x1 - 4;
      out.push(`<text x="${labelX.toFixed(1)}" y="${y + BAR - 3}" font-size="10" text-anchor="${bar.value >= 1 ? 'start' : 'end'}" fill="#333">${bar.value.toFixed(2)}x</text>`);
      y += BAR;
    }
    y += GAP;
  }
  let lx = 10;
  for (const [name, color] of Object.entries(COLORS)) {
    out.push(`<rect x="${lx}" y="${height - 18}" width="12" height="12" fill="${color}"/>`);
    out.push(`<text x="${lx + 16}" y="${height - 8}">vs ${escape(name)}</text>`);
    lx += 150;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
