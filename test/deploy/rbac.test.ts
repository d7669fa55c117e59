// Least privilege, checked against the code: every Kubernetes API call in src/ (typed client methods,
// custom-object calls, plain-JSON KubeApi calls on objectPath(...), informer watch paths) is allowed by the extender's RBAC in deploy/, and every rule in
// that RBAC is used by some call. A new API call without a rule — or a rule nothing uses — fails here.

import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { RR_GROUP, RR_PLURAL, RR_VERSION } from "../../src/engine/reservation.js";
import { RR_CRD_NAME } from "../../src/kube/crd.js";
import { DEMAND_CRD_NAME, DEMAND_GROUP, DEMAND_PLURAL, DEMAND_VERSION } from "../../src/kube/demands.js";
import { SPARK_APP_CRD, SPARK_APP_GROUP, SPARK_APP_PLURAL, SPARK_APP_VERSION } from "../../src/kube/spark-applications.js";
import { type K8sObject, ROOT, find, kubectl, render } from "./render.js";

/** Constants that name API groups and resources in calls and watch paths. */
const CONSTANTS: Record<string, string> = {
  RR_GROUP, RR_PLURAL, RR_VERSION, DEMAND_GROUP, DEMAND_PLURAL, DEMAND_VERSION, SPARK_APP_GROUP, SPARK_APP_PLURAL, SPARK_APP_VERSION,
};
const PLURAL_GROUP: Record<string, string> = { [RR_PLURAL]: RR_GROUP, [DEMAND_PLURAL]: DEMAND_GROUP, [SPARK_APP_PLURAL]: SPARK_APP_GROUP };
const API_GROUP: Record<string, string> = {
  CoreV1Api: "",
  CoordinationV1Api: "coordination.k8s.io",
  EventsV1Api: "events.k8s.io",
  ApiextensionsV1Api: "apiextensions.k8s.io",
  CustomObjectsApi: "(custom)",
  AuthenticationV1Api: "authentication.k8s.io",
  AuthorizationV1Api: "authorization.k8s.io",
};
/** Calls the code makes that need no rule, and why. */
const NOT_GRANTED: Record<string, string> = {
  "apiextensions.k8s.io/customresourcedefinitions/create": "deploy/base/crd.yaml installs the CRD; the service creates it only when missing",
};
/** CRDs the service reads (get with resourceNames). */
const CRDS_READ = [RR_CRD_NAME, DEMAND_CRD_NAME, SPARK_APP_CRD];

interface Call {
  /** group/resource[/subresource]/verb */
  access: string;
  where: string;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const VERB: Record<string, string> = { list: "list", read: "get", get: "get", create: "create", replace: "update", patch: "patch", delete: "delete" };

function resolve(text: string): string {
  return text.replace(/\$\{(\w+)\}/g, (_, name: string) => {
    if (!(name in CONSTANTS)) throw new Error(`unknown constant ${name} in a watch path: add it to CONSTANTS`);
    return CONSTANTS[name];
  });
}

/** Every API access the code makes, found in src/. */
function apiCalls(): Call[] {
  const calls: Call[] = [];
  for (const file of sources(join(ROOT, "src"))) {
    const text = readFileSync(file, "utf8");
    const where = file.slice(ROOT.length);
    const classes = [...text.matchAll(/makeApiClient\(k8s\.(\w+)\)/g)].map((m) => m[1]);
    for (const cls of classes) {
      if (!(cls in API_GROUP)) throw new Error(`${where}: API class ${cls} is not known to this test: add its group`);
    }
    for (const m of text.matchAll(/\.((list|read|get|create|replace|patch|delete)[A-Z]\w*)\s*\(/g)) {
      const [, method, prefix] = m;
      const cls = classes.find((c) => typeof (k8s as any)[c]?.prototype?.[method] === "function");
      if (!cls) continue; // not a Kubernetes client call (e.g. state.getReservation)
      const at = `${where}:${text.slice(0, m.index).split("\n").length} ${method}`;
      if (cls === "CustomObjectsApi") {
        const args = text.slice(m.index, m.index + 400);
        const plural = /plural:\s*(\w+)/.exec(args)?.[1];
        if (!plural || !(plural in CONSTANTS)) throw new Error(`${at}: cannot tell the custom resource (plural: ${plural})`);
        calls.push({ access: `${PLURAL_GROUP[CONSTANTS[plural]]}/${CONSTANTS[plural]}/${VERB[prefix]}`, where: at });
        continue;
      }
      let kind = method.slice(prefix.length).replace(/^(Namespaced|Cluster)/, "").replace(/ForAllNamespaces$/, "");
      let sub = "";
      if (kind.endsWith("Status")) {
        kind = kind.slice(0, -"Status".length);
        sub = "/status";
      }
      calls.push({ access: `${API_GROUP[cls]}/${kind.toLowerCase()}s${sub}/${VERB[prefix]}`, where: at });
    }
    // Plain-JSON calls (src/kube/client.ts): a KubeApi method on objectPath(groupVersion, plural, namespace?, name?, subresource?).
    for (const m of text.matchAll(/\.(get|create|replace|mergePatch|delete)(?:<[^>(]*>)?\(\s*objectPath\(([^)]*)\)/g)) {
      const [, method, argText] = m;
      const at = `${where}:${text.slice(0, m.index).split("\n").length} ${method} objectPath(${argText})`;
      const args = argText.split(",").map((a) => a.trim());
      const literal = (a: string): string => {
        if (/^"[^"]*"$/.test(a)) return a.slice(1, -1);
        if (/^`[^`]*`$/.test(a)) return resolve(a.slice(1, -1));
        if (a in CONSTANTS) return CONSTANTS[a];
        throw new Error(`${at}: cannot tell ${a}: use a literal or a constant known to this test`);
      };
      const groupVersion = literal(args[0]);
      const group = groupVersion === "v1" ? "" : groupVersion.split("/")[0];
      const named = args.length >= 4 && args[3] !== "undefined";
      const sub = args[4] ? `/${literal(args[4])}` : "";
      const verb = { get: named ? "get" : "list", create: "create", replace: "update", mergePatch: "patch", delete: "delete" }[method]!;
      calls.push({ access: `${group}/${literal(args[1])}${sub}/${verb}`, where: at });
    }
    // Informers list and watch a collection path.
    for (const m of text.matchAll(/path:\s*[`"](\/apis?\/[^`"]+)[`"]/g)) {
      const parts = resolve(m[1]).split("/").filter(Boolean);
      const [group, resource] = parts[0] === "api" ? ["", parts[2]] : [parts[1], parts[3]];
      const at = `${where}:${text.slice(0, m.index).split("\n").length} watch ${m[1]}`;
      calls.push({ access: `${group}/${resource}/list`, where: at }, { access: `${group}/${resource}/watch`, where: at });
    }
  }
  return calls;
}

/** group/resource/verb → resourceNames ("*" = any) granted to the service account by the extender's roles. */
function granted(objects: K8sObject[]): Map<string, Set<string>> {
  const grants = new Map<string, Set<string>>();
  const roles = [find(objects, "ClusterRole", "spark-scheduler-extender"), find(objects, "Role", "spark-scheduler-leases")];
  for (const role of roles) {
    for (const rule of role.rules) {
      for (const g of rule.apiGroups) {
        for (const r of rule.resources) {
          for (const v of rule.verbs) {
            const key = `${g}/${r}/${v}`;
            const names = grants.get(key) ?? new Set<string>();
            for (const n of rule.resourceNames ?? ["*"]) names.add(n);
            grants.set(key, names);
          }
        }
      }
    }
  }
  return grants;
}

describe("API calls in src/", () => {
  it("are found: informers, writers, leases, events, CRD checks", () => {
    const accesses = new Set(apiCalls().map((c) => c.access));
    for (const a of [
      "/nodes/watch",
      "/pods/watch",
      "/configmaps/get",
      `${RR_GROUP}/${RR_PLURAL}/watch`,
      `${RR_GROUP}/${RR_PLURAL}/create`,
      `${DEMAND_GROUP}/${DEMAND_PLURAL}/delete`,
      `${SPARK_APP_GROUP}/${SPARK_APP_PLURAL}/watch`,
      "coordination.k8s.io/leases/update",
      "/pods/status/update",
      "apiextensions.k8s.io/customresourcedefinitions/get",
      "events.k8s.io/events/create",
      "authentication.k8s.io/tokenreviews/create",
      "authorization.k8s.io/subjectaccessreviews/create",
    ]) {
      expect(accesses, a).toContain(a);
    }
  });
});

describe.skipIf(!kubectl)("extender RBAC (deploy/base/rbac.yaml)", () => {
  const objects = render("deploy/base");
  const grants = granted(objects);
  const calls = apiCalls();

  it("allows every API call the code makes", () => {
    const missing = calls.filter((c) => !(c.access in NOT_GRANTED) && !grants.has(c.access)).map((c) => `${c.access} (${c.where})`);
    expect(missing).toEqual([]);
  });

  it("grants nothing the code does not call (least privilege)", () => {
    const used = new Set(calls.map((c) => c.access));
    // pods patch: the retry nudge (an annotation that makes kube-scheduler retry a refused pod), being added.
    const announced = new Set(["/pods/patch"]);
    const unused = [...grants.keys()].filter((g) => !used.has(g) && !announced.has(g));
    expect(unused).toEqual([]);
    for (const a of Object.keys(NOT_GRANTED)) expect(grants.has(a), a).toBe(false);
  });

  it("reads only the CRDs it depends on, and its Leases by name", () => {
    expect([...grants.get("apiextensions.k8s.io/customresourcedefinitions/get")!].sort()).toEqual([...CRDS_READ].sort());
    const scheduler = parseYaml(readFileSync(join(ROOT, "deploy/base/kube-scheduler-config.yaml"), "utf8"));
    const leases = grants.get("coordination.k8s.io/leases/update")!;
    expect(leases).toContain(scheduler.leaderElection.resourceName);
    expect(leases).toContain("spark-scheduler-extender"); // leader-election.mode: own-lease
    expect(leases).not.toContain("*");
    expect(find(objects, "Role", "spark-scheduler-leases").metadata.namespace).toBe(scheduler.leaderElection.resourceNamespace);
  });

  it("binds the roles, and kube-scheduler's built-in roles, to the pod's service account", () => {
    const sa = find(objects, "ServiceAccount");
    const subject = { kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace };
    const bound = objects
      .filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding")
      .filter((b) => b.subjects.some((s: any) => s.kind === subject.kind && s.name === subject.name && s.namespace === subject.namespace))
      .map((b) => `${b.roleRef.kind}/${b.roleRef.name}${b.kind === "RoleBinding" ? `@${b.metadata.namespace}` : ""}`)
      .sort();
    expect(bound).toEqual(
      [
        "ClusterRole/spark-scheduler-extender",
        "ClusterRole/system:kube-scheduler",
        "ClusterRole/system:volume-scheduler",
        "Role/extension-apiserver-authentication-reader@kube-system",
        "Role/spark-scheduler-leases@spark-scheduler",
      ].sort(),
    );
  });
});
