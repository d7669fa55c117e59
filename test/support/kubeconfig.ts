/**
 * Kubeconfigs pointing at a test API server (usually FakeApiServer.url): as a KubeConfig object for code
 * that takes one, or as a YAML file for code that takes a `kube-config` path.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { stringify } from "yaml";

const CONTEXT = "fake";

/** A KubeConfig whose current context targets `serverUrl` with a dummy bearer token. */
export function makeKubeConfig(serverUrl: string, namespace = "default"): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: CONTEXT, server: serverUrl, skipTLSVerify: true }],
    users: [{ name: CONTEXT, token: "fake-token" }],
    contexts: [{ name: CONTEXT, cluster: CONTEXT, user: CONTEXT, namespace }],
    currentContext: CONTEXT,
  });
  return kc;
}

export interface KubeConfigFile {
  /** Path of the kubeconfig YAML file. */
  path: string;
  /** Removes the file and its temporary directory. */
  cleanup(): Promise<void>;
}

/** Writes the kubeconfig of makeKubeConfig as YAML into a fresh temporary directory. */
export async function writeKubeConfigFile(serverUrl: string, namespace = "default"): Promise<KubeConfigFile> {
  const dir = await mkdtemp(join(tmpdir(), "fake-kubeconfig-"));
  const path = join(dir, "kubeconfig.yaml");
  // exportConfig() emits the standard kubeconfig layout as JSON; YAML is what people expect to read.
  const yaml = stringify(JSON.parse(makeKubeConfig(serverUrl, namespace).exportConfig()));
  await writeFile(path, yaml, { mode: 0o600 });
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
