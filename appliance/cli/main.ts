import { runCli } from './program.js';

// The process entry point of the `rackseed` command (bin/rackseed.js loads it). A command that
// failed ends the process, whatever it left open (a store connection, a timer): a service that
// cannot start must exit, so that its supervisor sees it and starts it again.
const code = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
});
if (code !== 0) process.exit(code);
process.exitCode = code;
