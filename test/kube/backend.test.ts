// Which backend the service runs on: fail closed inside a pod, the embedded cluster only where no Kubernetes is.

import { describe, expect, it } from "vitest";
import { type BackendProbe, SERVICE_ACCOUNT_DIR, SERVICE_ACCOUNT_TOKEN, chooseBackend } from "../../src/kube/backend.js";

const probe = (over: Partial<BackendProbe> & { files?: Record<string, string> } = {}): BackendProbe => {
  const files = over.files ?? {};
  return {
    embedded: false,
    kubeConfig: "",
    env: {},
    exists: (p) => Object.keys(files).some((f) => f === p || f.startsWith(`${p}/`)),
    read: (p) => files[p],
    ...over,
  };
};
const inPodEnv = { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" };

describe("chooseBackend", () => {
  it("runs the embedded cluster only when no Kubernetes is detected at all", () => {
    expect(chooseBackend(probe()).kind).toBe("embedded");
  });

  it("uses the in-cluster service account inside a pod", () => {
    expect(chooseBackend(probe({ env: inPodEnv, files: { [SERVICE_ACCOUNT_TOKEN]: "token" } })).kind).toBe("kubernetes");
  });

  it.each([
    ["KUBERNETES_SERVICE_HOST set, no token", probe({ env: inPodEnv })],
    ["an empty token", probe({ env: inPodEnv, files: { [SERVICE_ACCOUNT_TOKEN]: " \n" } })],
    ["the service-account mount without a token", probe({ files: { [`${SERVICE_ACCOUNT_DIR}/serviceaccount/ca.crt`]: "ca" } })],
    ["a token but no API server address", probe({ files: { [SERVICE_ACCOUNT_TOKEN]: "token" } })],
  ])("refuses to start inside a pod with %s", (_name, p) => {
    const c = chooseBackend(p);
    expect(c.kind).toBe("refuse");
    expect(c.kind === "refuse" && c.message).toMatch(/refusing to fall back to the embedded simulated cluster/);
  });

  it("explicit choices win: embedded: true, then kube-config", () => {
    expect(chooseBackend(probe({ env: inPodEnv, embedded: true })).kind).toBe("embedded");
    expect(chooseBackend(probe({ env: inPodEnv, kubeConfig: "/kc" })).kind).toBe("kubernetes");
  });
});
