// spark-scheduler entry point: `npm start [-- --config file.yaml] [--port N] [--kube-config path]
// [--embedded-cluster file.yaml]`. Without a kubeconfig and outside a cluster it runs on the embedded
// simulated cluster (examples/cluster.yaml), so it works on a fresh machine. The service itself is
// src/service.ts; this module only installs, before any module that imports @kubernetes/client-node is
// resolved, the hook that keeps client-node's generated API surface out of the process
// (src/kube/lean-client-node.ts: ~50 MB of resident memory), then loads the service.

import { loadClientNodeLean } from "./kube/lean-client-node.js";

loadClientNodeLean();
await import("./service.js");
