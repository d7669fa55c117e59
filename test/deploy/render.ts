// Renders the kustomize install (deploy/) with `kubectl kustomize`, the way `kubectl apply -k` would.

import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

export const ROOT = new URL("../..", import.meta.url).pathname;

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

/** kubectl's path, or undefined when it is not installed. */
export const kubectl: string | undefined = (() => {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return "kubectl";
  } catch {
    return undefined;
  }
})();

if (!kubectl) console.warn("kubectl is not installed: the deploy/ rendering tests are skipped");

const cache = new Map<string, K8sObject[]>();

export function render(dir: string): K8sObject[] {
  let objects = cache.get(dir);
  if (!objects) {
    const out = execFileSync(kubectl!, ["kustomize", `${ROOT}${dir}`], { encoding: "utf8" });
    objects = parseAllDocuments(out).map((d) => d.toJS() as K8sObject);
    cache.set(dir, objects);
  }
  return objects;
}

export function find(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  if (!o) throw new Error(`no ${kind} ${name ?? ""} in the rendered install`);
  return o;
}

export const INSTALLS = ["deploy/base", "deploy/overlays/ha", "deploy/overlays/cert-manager", "deploy/overlays/monitoring"];
