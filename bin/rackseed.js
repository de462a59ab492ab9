#!/usr/bin/env node
// The `rackseed` command: runs the compiled CLI (`make build` or `make setup` compiles it).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/appliance/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'error CLI_ERR_NOT_BUILT: rackseed is not compiled yet; run `make setup` (or `npm run build`) first\n',
  );
  process.exit(1);
}
await import(entry.href);
