// What client-node's KubeConfig module (dist/config.js) imports from its generated index, and nothing else:
// src/kube/lean-client-node.ts points that import here. test/kube/lean-client-node.test.ts checks that this
// covers every name config.js imports from there.
export { createConfiguration } from "@kubernetes/client-node/dist/gen/configuration.js";
export { ServerConfiguration } from "@kubernetes/client-node/dist/gen/servers.js";
