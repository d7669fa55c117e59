// Loads @kubernetes/client-node without its generated API and model surface.
//
// client-node's KubeConfig module (dist/config.js) imports two names (createConfiguration,
// ServerConfiguration) from its generated index, and that index re-exports every generated API class and
// model: ~900 modules and ~14 MB of source, ~50 MB of resident memory for nothing the service calls
// (src/kube/client.ts talks plain JSON). A module resolution hook points that one import of that one module
// at src/kube/client-node-gen.ts, which re-exports just those two from their own modules. Everything else
// resolves as usual, so anything importing client-node's index still gets all of it (tests do).
//
// Must run before the first module that imports client-node is resolved (ES modules are resolved and linked
// as a whole graph before any of them runs): src/main.ts calls it, then imports the service dynamically.

import { registerHooks } from "node:module";

const CONFIG_MODULE = "/@kubernetes/client-node/dist/config.js";
let registered = false;

/** Registers the hook (once). Only for compiled JavaScript (dist/), where the shim is a .js file. */
export function loadClientNodeLean(): boolean {
  if (registered) return true;
  const shim = new URL("./client-node-gen.js", import.meta.url);
  if (!import.meta.url.endsWith(".js")) return false;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (specifier === "./gen/index.js" && context.parentURL?.endsWith(CONFIG_MODULE)) {
        return { url: shim.href, shortCircuit: true, format: "module" };
      }
      return nextResolve(specifier, context);
    },
  });
  registered = true;
  return true;
}
