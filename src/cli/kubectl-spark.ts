// Entry point of the kubectl plugin (`kubectl spark <command>`, launched by bin/kubectl-spark): the admin CLI,
// reaching the service through the kubeconfig's API server unless --server or $SPARK_SCHEDULER_URL is given.

import { runCli } from "./run.js";

const status = await runCli(process.argv.slice(2), {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  kubectlPlugin: true,
});
process.exitCode = status;
