/**
 * `make bench`: runs every bench/*.bench.ts (or those whose name contains one of the
 * arguments, e.g. `make bench BENCH=ipmi`), one after another: the machine has two cores and
 * benchmarks must not disturb each other. Each prints its own figures and ratios against a
 * reference measured in the same run.
 */
import { readdirSync } from 'node:fs';

const filters = process.argv.slice(2).filter(Boolean);
const dir = new URL('.', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error(`no benchmark matches ${filters.join(', ')}`);
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  console.log(`\n=== ${file.replace('.bench.ts', '')} ===`);
  const started = performance.now();
  try {
    const bench = (await import(new URL(file, dir).href)) as { default: () => Promise<void> };
    await bench.default();
  } catch (error) {
    failed++;
    console.error(`benchmark ${file} failed: ${error instanceof Error ? error.stack : String(error)}`);
  }
  console.log(`(${file} took ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
process.exit(failed > 0 ? 1 : 0);
