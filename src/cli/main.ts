// Entry point of the admin CLI (`npm run cli -- <command> [flags]`): a thin wrapper around runCli.

import { runCli } from "./run.js";

const status = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
});
process.exitCode = status;
