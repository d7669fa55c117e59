// The fake API server of the memory benchmark (bench/heap.ts), in its own process so that its objects do not
// count towards the service's memory: 5,000 nodes and 50,000 pods shaped like a production cluster's (Spark
// drivers and executors with the usual env, volumes, probes and statuses; other pods with labels, owner
// references and kubectl's last-applied annotation), each with the managedFields the server adds on write.
// Prints {"url": ...} on stdout once loaded, then serves until killed.

import { hostname } from "node:os";
import { putEstablishedCrd } from "../test/kube/fixtures.js";
import { FakeApiServer } from "../test/support/fake-apiserver.js";
import { IG, IG_LABEL, NOW_MS, Rng, ZONE_LABEL } from "./cluster.js";

const NODES = Number(process.env.HEAP_NODES ?? 5000);
const PODS = Number(process.env.HEAP_PODS ?? 50_000);
const SPARK_SHARE = 0.6;

type Obj = Record<string, unknown>;
const rng = new Rng(42);
const zones = ["us-east-1a", "us-east-1b", "us-east-1c"];

function node(i: number): Obj {
  const name = `ip-10-${(i >> 8) & 255}-${i & 255}-${i % 7}.ec2.internal`;
  return {
    metadata: {
      name,
      labels: {
        [IG_LABEL]: IG,
        [ZONE_LABEL]: zones[i % 3],
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "node.kubernetes.io/instance-type": "r5.8xlarge",
        "topology.kubernetes.io/region": "us-east-1",
      },
      annotations: { "node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true" },
    },
    spec: { providerID: `aws:///${zones[i % 3]}/i-0${i.toString(16).padStart(16, "0")}` },
    status: {
      allocatable: { cpu: "31850m", memory: "252Gi", pods: "110", "ephemeral-storage": "95Gi" },
      capacity: { cpu: "32", memory: "256Gi", pods: "110", "ephemeral-storage": "100Gi" },
      conditions: ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"].map((type) => ({
        type,
        status: type === "Ready" ? "True" : "False",
        lastHeartbeatTime: new Date(NOW_MS).toISOString(),
        lastTransitionTime: new Date(NOW_MS - 86_400_000).toISOString(),
        reason: type === "Ready" ? "KubeletReady" : `KubeletHasNo${type}`,
        message: type === "Ready" ? "kubelet is posting ready status" : `kubelet has no ${type}`,
      })),
      addresses: [
        { type: "InternalIP", address: `10.0.${(i >> 8) & 255}.${i & 255}` },
        { type: "Hostname", address: name },
      ],
      nodeInfo: { kubeletVersion: "v1.31.4", containerRuntimeVersion: "containerd://1.7.24", osImage: "Amazon Linux 2023", kernelVersion: "6.1.0" },
      images: Array.from({ length: 8 }, (_, k) => ({ names: [`registry.example.com/team/image-${k}@sha256:${"a".repeat(64)}`], sizeBytes: 500_000_000 + k })),
    },
  };
}

function containerStatus(name: string, image: string): Obj {
  return {
    name,
    image,
    imageID: `${image}@sha256:${"b".repeat(64)}`,
    containerID: `containerd://${"c".repeat(64)}`,
    ready: true,
    restartCount: 0,
    started: true,
    state: { running: { startedAt: new Date(NOW_MS - 600_000).toISOString() } },
  };
}

function sparkPod(app: string, role: "driver" | "executor", i: number, nodeName: string): Obj {
  const name = role === "driver" ? `${app}-driver` : `${app}-exec-${i}`;
  const image = "registry.example.com/spark/spark:3.5.3-scala2.12-java17";
  const env = [
    "SPARK_USER", "SPARK_APPLICATION_ID", "SPARK_DRIVER_BIND_ADDRESS", "SPARK_LOCAL_DIRS", "SPARK_CONF_DIR",
    "SPARK_EXECUTOR_CORES", "SPARK_EXECUTOR_MEMORY", "SPARK_EXECUTOR_ID", "SPARK_RESOURCE_PROFILE_ID",
  ].map((n) => ({ name: n, value: `${n.toLowerCase()}-${app}` }));
  return {
    metadata: {
      name,
      namespace: `team-${app.length % 20}`,
      labels: {
        "spark-role": role,
        "spark-app-id": app,
        "spark-app-selector": `spark-${app}`,
        "spark-app-name": app,
        "spark-version": "3.5.3",
        ...(role === "executor" ? { "spark-exec-id": String(i), "spark-exec-resourceprofile-id": "0" } : {}),
      },
      annotations: role === "driver"
        ? { "spark-driver-cpu": "2", "spark-driver-mem": "8Gi", "spark-executor-cpu": "4", "spark-executor-mem": "16Gi", "spark-executor-count": "20" }
        : {},
      ownerReferences: role === "executor" ? [{ apiVersion: "v1", kind: "Pod", name: `${app}-driver`, uid: `${app}-uid`, controller: true }] : [],
    },
    spec: {
      schedulerName: "spark-scheduler",
      nodeName,
      restartPolicy: "Never",
      serviceAccountName: "spark",
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: IG_LABEL, operator: "In", values: [IG] }] }] } } },
      tolerations: [
        { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
      ],
      containers: [
        {
          name: role === "driver" ? "spark-kubernetes-driver" : "spark-kubernetes-executor",
          image,
          args: role === "driver" ? ["driver", "--class", "com.example.Etl", "local:///opt/app.jar"] : ["executor"],
          env,
          ports: [{ name: "blockmanager", containerPort: 7079, protocol: "TCP" }],
          resources: { requests: { cpu: role === "driver" ? "2" : "4", memory: role === "driver" ? "8Gi" : "16Gi" }, limits: { memory: role === "driver" ? "8Gi" : "16Gi" } },
          volumeMounts: [
            { name: "spark-local-dir-1", mountPath: "/var/data/spark-1" },
            { name: "spark-conf-volume", mountPath: "/opt/spark/conf" },
            { name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount", readOnly: true },
          ],
        },
      ],
      volumes: [
        { name: "spark-local-dir-1", emptyDir: {} },
        { name: "spark-conf-volume", configMap: { name: `spark-exec-${app}-conf-map`, defaultMode: 420 } },
        { name: "kube-api-access", projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: "token" } }, { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } }] } },
      ],
    },
    status: {
      phase: "Running",
      hostIP: "10.0.0.1",
      podIP: `10.1.${i & 255}.${(i >> 8) & 255}`,
      startTime: new Date(NOW_MS - 600_000).toISOString(),
      conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({
        type,
        status: "True",
        lastTransitionTime: new Date(NOW_MS - 600_000).toISOString(),
      })),
      containerStatuses: [containerStatus(role === "driver" ? "spark-kubernetes-driver" : "spark-kubernetes-executor", image)],
    },
  };
}

function otherPod(i: number, nodeName: string): Obj {
  const app = `svc-${i % 400}`;
  const image = `registry.example.com/platform/${app}:1.${i % 10}.0`;
  const spec = {
    nodeName,
    containers: [
      {
        name: "main",
        image,
        env: Array.from({ length: 6 }, (_, k) => ({ name: `VAR_${k}`, value: `value-${k}-${app}` })),
        resources: { requests: { cpu: "250m", memory: "512Mi" }, limits: { memory: "1Gi" } },
        livenessProbe: { httpGet: { path: "/healthz", port: 8080 }, periodSeconds: 10 },
        readinessProbe: { httpGet: { path: "/readyz", port: 8080 }, periodSeconds: 5 },
      },
    ],
  };
  return {
    metadata: {
      name: `${app}-${i.toString(36)}`,
      namespace: `ns-${i % 50}`,
      labels: { app, "pod-template-hash": "5d8f7c9b4", team: `team-${i % 30}` },
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify({ spec }), "prometheus.io/scrape": "true" },
      ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: `${app}-5d8f7c9b4`, uid: `${app}-rs-uid`, controller: true }],
    },
    spec,
    status: {
      phase: "Running",
      conditions: ["Initialized", "Ready", "ContainersReady", "PodScheduled"].map((type) => ({ type, status: "True", lastTransitionTime: new Date(NOW_MS).toISOString() })),
      containerStatuses: [containerStatus("main", image)],
    },
  };
}

const server = await FakeApiServer.start({ historyLimit: 1000 });
putEstablishedCrd(server);
const nodeNames: string[] = [];
for (let i = 0; i < NODES; i++) {
  const n = node(i);
  nodeNames.push((n.metadata as { name: string }).name);
  server.put("nodes", n);
}
const sparkPods = Math.round(PODS * SPARK_SHARE);
let made = 0;
for (let a = 0; made < sparkPods; a++) {
  const app = `app-${a.toString(36).padStart(4, "0")}`;
  const executors = rng.range(2, 60);
  server.put("pods", sparkPod(app, "driver", 0, nodeNames[rng.int(NODES)]));
  made++;
  for (let e = 1; e <= executors && made < sparkPods; e++, made++) server.put("pods", sparkPod(app, "executor", e, nodeNames[rng.int(NODES)]));
}
for (let i = 0; made < PODS; i++, made++) server.put("pods", otherPod(i, nodeNames[rng.int(NODES)]));
// kube-scheduler of "this pod" holds its lease, so the extender leads (follow-kube-scheduler mode).
server.put("leases.coordination.k8s.io", {
  metadata: { name: "spark-scheduler", namespace: "spark" },
  spec: { holderIdentity: `${hostname()}_bench`, leaseDurationSeconds: 3600, renewTime: new Date().toISOString() },
});
const sample = JSON.stringify(server.list("pods").slice(0, 200));
process.stdout.write(JSON.stringify({ url: server.url, nodes: NODES, pods: made, podJsonBytes: Math.round(sample.length / 200) }) + "\n");
