import { runCli } from './program.js';

// The process entry point of the `rackseed` command (bin/rackseed.js loads it).
const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
process.exitCode = code;
