// The kustomize install: every base and overlay renders, and the objects fit together and fit the code — the
// CRD is src/kube/crd.ts's, kube-scheduler calls the extender's real route on the port it listens on, both
// elect through the same Lease, and the extender's configuration is valid.

import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { generatedManifests } from "../../scripts/manifests.js";
import { configFromObject } from "../../src/config.js";
import { resourceReservationCrd } from "../../src/kube/crd.js";
import { type TestApp, example, postJson, startTestApp } from "../server/app-harness.js";
import { INSTALLS, type K8sObject, ROOT, find, kubectl, render } from "./render.js";

const NAMESPACE = "spark-scheduler";
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** Kinds whose names must be DNS labels (63 characters), not subdomains. */
const LABEL_NAMED = new Set(["Namespace", "Service"]);

function configMapFile(objects: K8sObject[], file: string): any {
  const deployment = find(objects, "Deployment", "spark-scheduler");
  const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === "config");
  const cm = find(objects, "ConfigMap", volume.configMap.name);
  expect(cm.data[file], `${file} in ConfigMap ${cm.metadata.name}`).toBeDefined();
  return parseYaml(cm.data[file]);
}

function container(objects: K8sObject[], name: string): any {
  return find(objects, "Deployment", "spark-scheduler").spec.template.spec.containers.find((c: any) => c.name === name);
}

describe.skipIf(!kubectl)("kustomize install (deploy/)", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  describe.each(INSTALLS)("%s", (dir) => {
    const objects = () => render(dir);

    it("renders objects with valid names, in the install namespace", () => {
      expect(objects().length).toBeGreaterThan(10);
      const seen = new Set<string>();
      for (const o of objects()) {
        const { name, namespace } = o.metadata;
        expect(name, `${o.kind} name`).toMatch(LABEL_NAMED.has(o.kind) ? DNS1123_LABEL : DNS1123_SUBDOMAIN);
        expect(name.length, `${o.kind} ${name}`).toBeLessThanOrEqual(LABEL_NAMED.has(o.kind) ? 63 : 253);
        const key = `${o.apiVersion.split("/")[0]}/${o.kind}/${namespace ?? ""}/${name}`;
        expect(seen.has(key), `duplicate ${key}`).toBe(false);
        seen.add(key);
        const clusterScoped = ["Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"].includes(o.kind);
        if (clusterScoped) expect(namespace, `${o.kind} ${name}`).toBeUndefined();
        else if (!(o.kind === "RoleBinding" && namespace === "kube-system")) expect(namespace, `${o.kind} ${name}`).toBe(NAMESPACE);
      }
      expect(find(objects(), "Namespace").metadata.name).toBe(NAMESPACE);
    });

    it("ships the ResourceReservation CRD of src/kube/crd.ts", () => {
      const crd = find(objects(), "CustomResourceDefinition");
      const expected = resourceReservationCrd();
      expect(crd.metadata.name).toBe(expected.metadata!.name);
      const v1beta2 = crd.spec.versions.find((v: any) => v.name === "v1beta2");
      expect(v1beta2).toEqual(JSON.parse(JSON.stringify(expected.spec.versions[0])));
      const { versions: _a, conversion: _b, ...rest } = crd.spec;
      const { versions: _c, ...expectedRest } = JSON.parse(JSON.stringify(expected.spec));
      expect(rest).toEqual(expectedRest);
    });

    it("pairs kube-scheduler with the extender: the extender URL is the real filter route on the port it listens on", async () => {
      const scheduler = configMapFile(objects(), "kube-scheduler-config.yaml");
      const extender = configFromObject(configMapFile(objects(), "extender.yaml"));
      expect(scheduler.kind).toBe("KubeSchedulerConfiguration");
      expect(scheduler.profiles.map((p: any) => p.schedulerName)).toEqual([extender.engine.schedulerName]);
      expect(scheduler.extenders).toHaveLength(1);
      const ext = scheduler.extenders[0];
      const url = new URL(ext.urlPrefix);
      expect(url.hostname).toBe("127.0.0.1"); // same pod
      expect(Number(url.port)).toBe(extender.port);
      expect(container(objects(), "extender").ports).toEqual([{ name: "http", containerPort: extender.port }]);
      expect(url.protocol).toBe(extender.tls ? "https:" : "http:");
      expect(ext.enableHTTPS ?? false).toBe(Boolean(extender.tls));
      expect(ext.nodeCacheCapable).toBe(true);
      expect(ext.ignorable).toBe(false);
      expect(scheduler.percentageOfNodesToScore).toBe(100);
      // kube-scheduler POSTs to <urlPrefix>/<filterVerb>: the running service must decide there.
      const route = `${url.pathname.replace(/\/$/, "")}/${ext.filterVerb}`;
      const res = await postJson(`${app.url}${route}`, example("driver-etl"));
      expect(res.status).toBe(200);
      expect(res.json.NodeNames).toHaveLength(1);
    });

    it("both containers elect through one Lease: the extender follows kube-scheduler's", () => {
      const scheduler = configMapFile(objects(), "kube-scheduler-config.yaml");
      const extender = configFromObject(configMapFile(objects(), "extender.yaml"));
      expect(scheduler.leaderElection.leaderElect).toBe(true);
      expect(extender.leaderElection).toMatchObject({
        enabled: true,
        mode: "follow-kube-scheduler",
        namespace: scheduler.leaderElection.resourceNamespace,
        leaseName: scheduler.leaderElection.resourceName,
      });
      expect(extender.leaderElection.namespace).toBe(NAMESPACE);
    });

    it("runs both containers unprivileged on a read-only root filesystem, with the config mounted read-only", () => {
      const pod = find(objects(), "Deployment", "spark-scheduler").spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.serviceAccountName).toBe(find(objects(), "ServiceAccount").metadata.name);
      for (const c of pod.containers) {
        expect(c.securityContext, c.name).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
        expect(c.securityContext.runAsUser, c.name).toBeGreaterThan(0);
        for (const m of c.volumeMounts) expect(m.readOnly, `${c.name} ${m.name}`).toBe(true);
      }
      const ks = container(objects(), "kube-scheduler");
      expect(ks.image).toMatch(/^registry\.k8s\.io\/kube-scheduler:v1\.(3[5-9]|[4-9]\d)\.\d+$/);
      expect(ks.command).toContain("--config=/etc/spark-scheduler/kube-scheduler-config.yaml");
      const probePath = (p: any) => p.httpGet.path;
      expect(probePath(container(objects(), "extender").readinessProbe)).toBe("/readyz");
      expect(probePath(container(objects(), "extender").livenessProbe)).toBe("/healthz");
    });

    it("the Service, PodDisruptionBudget and NetworkPolicy select the pods, and the policy admits only the monitoring namespace (and, for the webhook, the API server) to the port", () => {
      const labels = find(objects(), "Deployment", "spark-scheduler").spec.template.metadata.labels;
      const selects = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => labels[k] === v);
      expect(selects(find(objects(), "Service", "spark-scheduler").spec.selector)).toBe(true);
      expect(selects(find(objects(), "PodDisruptionBudget").spec.selector.matchLabels)).toBe(true);
      const policy = find(objects(), "NetworkPolicy");
      expect(selects(policy.spec.podSelector.matchLabels)).toBe(true);
      expect(policy.spec.policyTypes).toEqual(["Ingress"]);
      const webhook = dir.endsWith("cert-manager");
      expect(policy.spec.ingress).toHaveLength(webhook ? 2 : 1);
      expect(policy.spec.ingress[0]).toEqual({
        from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }],
        ports: [{ port: 8483, protocol: "TCP" }],
      });
      for (const rule of policy.spec.ingress) expect(rule.ports).toEqual([{ port: 8483, protocol: "TCP" }]);
    });
  });

  it("ha: two replicas on different nodes, one always up, rolled one at a time", () => {
    const objects = render("deploy/overlays/ha");
    const d = find(objects, "Deployment", "spark-scheduler");
    expect(d.spec.replicas).toBe(2);
    expect(d.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
    const anti = d.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution;
    expect(anti).toEqual([{ labelSelector: { matchLabels: { app: "spark-scheduler" } }, topologyKey: "kubernetes.io/hostname" }]);
    expect(find(objects, "PodDisruptionBudget").spec).toEqual({ minAvailable: 1, selector: { matchLabels: { app: "spark-scheduler" } } });
    expect(find(render("deploy/base"), "Deployment", "spark-scheduler").spec.replicas).toBe(1);
  });

  it("cert-manager: the CRD's conversion webhook is the extender's /convert route behind the Service, over HTTPS with cert-manager's CA", async () => {
    const objects = render("deploy/overlays/cert-manager");
    const crd = find(objects, "CustomResourceDefinition");
    expect(crd.spec.versions.map((v: any) => [v.name, v.served, v.storage])).toEqual([
      ["v1beta2", true, true],
      ["v1beta1", true, false],
    ]);
    const webhook = crd.spec.conversion.webhook;
    expect(crd.spec.conversion.strategy).toBe("Webhook");
    const service = find(objects, "Service", webhook.clientConfig.service.name);
    expect(service.metadata.namespace).toBe(webhook.clientConfig.service.namespace);
    expect(service.spec.ports.map((p: any) => p.port)).toContain(webhook.clientConfig.service.port);
    const extender = configFromObject(configMapFile(objects, "extender.yaml"));
    expect(webhook.clientConfig.service.path).toBe(`${extender.contextPath}/convert`);
    const res = await postJson(`${app.url}${webhook.clientConfig.service.path}`, {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "ConversionReview",
      request: { uid: "u1", desiredAPIVersion: "sparkscheduler.palantir.com/v1beta2", objects: [] },
    });
    expect(res.status).toBe(200);
    expect(res.json.response).toMatchObject({ uid: "u1", result: { status: "Success" } });
    // cainjector fills the caBundle from the Certificate named in the annotation.
    const [certNs, certName] = crd.metadata.annotations!["cert-manager.io/inject-ca-from"].split("/");
    const cert = find(objects, "Certificate", certName);
    expect(cert.metadata.namespace).toBe(certNs);
    expect(cert.spec.dnsNames).toContain(`${service.metadata.name}.${service.metadata.namespace}.svc`);
    expect(cert.spec.ipAddresses).toContain("127.0.0.1");
    expect(find(objects, "Issuer", cert.spec.issuerRef.name)).toBeDefined();
    // The extender serves that certificate; kube-scheduler trusts its CA.
    const pod = find(objects, "Deployment", "spark-scheduler").spec.template.spec;
    const secretVolume = pod.volumes.find((v: any) => v.secret?.secretName === cert.spec.secretName);
    for (const c of pod.containers) {
      const mount = c.volumeMounts.find((m: any) => m.name === secretVolume.name);
      expect(mount, c.name).toBeDefined();
      if (c.name === "extender") {
        expect(extender.tls).toEqual({ certFile: `${mount.mountPath}/tls.crt`, keyFile: `${mount.mountPath}/tls.key` });
        expect(c.readinessProbe.httpGet.scheme).toBe("HTTPS");
      } else {
        expect(configMapFile(objects, "kube-scheduler-config.yaml").extenders[0].tlsConfig.caFile).toBe(`${mount.mountPath}/ca.crt`);
      }
    }
  });
});

describe("generated manifests", () => {
  it("deploy/base/crd.yaml and deploy/extender-config.schema.json are what `npm run manifests` generates", () => {
    for (const [path, content] of Object.entries(generatedManifests())) {
      expect(readFileSync(`${ROOT}${path}`, "utf8"), `${path}: run npm run manifests and commit`).toBe(content);
    }
    expect(parseYaml(readFileSync(`${ROOT}deploy/base/crd.yaml`, "utf8"))).toEqual(JSON.parse(JSON.stringify(resourceReservationCrd())));
  });
});
