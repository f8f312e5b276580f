/** How the CLI prints: `--json` prints machine-readable JSON, otherwise short human text. */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/** `key: value` lines for an object (dates and objects as JSON). */
export function printFields(record: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(record).map((key) => key.length));
  printLines(Object.entries(record).map(([key, value]) => `${`${key}:`.padEnd(width + 2)}${formatValue(value)}`));
}

/** A table with a header row; columns sized to fit. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  printLines([line(header), ...rows.map(line)]);
}

export function formatValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value);
}
