// Autoscaler demands (reference §6): scaler.palantir.com/v1alpha2 Demand objects that ask a cluster autoscaler
// for the capacity a waiting application needs.
//
// - spark-scheduler does not own the Demand CRD. Demands are written only while `demands.scaler.palantir.com`
//   exists, is Established and serves v1alpha2: checked at start, then every `crdPollMs` until it does. Until
//   then apply() is a logged no-op.
// - Operations on one demand are applied in call order (a delete waits for an in-flight create).
// - A set of demands believed to exist lets a delete for a demand that was never created skip the API call.
//   It is seeded by one list when the CRD becomes available, so deletes stay correct across restarts. When the
//   set may be incomplete (the seed list failed, or the bound evicted entries), deletes always go to the API.
// - Create: AlreadyExists is success. Delete: NotFound is success. 5xx, 429 and network errors are retried a
//   few times with exponential backoff; other errors (and exhausted retries) reject apply() with context.

import type * as k8s from "@kubernetes/client-node";
import { ApiException, KubeApi, objectPath } from "./client.js";
import type { Logger } from "pino";
import type { DemandIntent, DemandUnit } from "../engine/decision.js";
import { isValidLabelValue, objectNameFor } from "../engine/reservation.js";
import { APP_ID_LABEL } from "../engine/spark-pods.js";
import { GPU_RESOURCE, type Resources, formatCpu, formatMemory } from "../engine/resources.js";
import { backoffMs, sleep } from "./reservation-writer.js";

export const DEMAND_GROUP = "scaler.palantir.com";
export const DEMAND_VERSION = "v1alpha2";
export const DEMAND_PLURAL = "demands";
export const DEMAND_CRD_NAME = `${DEMAND_PLURAL}.${DEMAND_GROUP}`;

const MAX_ATTEMPTS = 4;
const INITIAL_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2_000;
/** Upper bound of the believed-to-exist set. */
const MAX_TRACKED = 50_000;

type CreateIntent = Extract<DemandIntent, { op: "create" }>;

export interface DemandWriterOptions {
  kc: k8s.KubeConfig;
  log: Logger;
  clock?: () => number;
  /** How often to look for the Demand CRD while it is absent (ms). Default 60 s, as the reference. */
  crdPollMs?: number;
}

/**
 * The Demand's object name: `demand-<pod>` as the reference names it, or — when that is longer than 253
 * characters — a truncated name with a hash of the pod name (the pod is named in the owner reference).
 */
export function demandName(podName: string): string {
  return objectNameFor(podName, "demand-");
}

/** The Demand object for a create intent (reference §6.2). */
export function demandObject(intent: CreateIntent): Record<string, unknown> {
  const spec: Record<string, unknown> = {
    units: intent.units.map(demandUnit),
    "instance-group": intent.instanceGroup,
    "is-long-lived": false,
    "enforce-single-zone-scheduling": intent.enforceSingleZone,
  };
  if (intent.zone) spec.zone = intent.zone;
  return {
    apiVersion: `${DEMAND_GROUP}/${DEMAND_VERSION}`,
    kind: "Demand",
    metadata: {
      name: demandName(intent.podName),
      namespace: intent.namespace,
      ...(isValidLabelValue(intent.appId)
        ? { labels: { [APP_ID_LABEL]: intent.appId } }
        : { annotations: { [APP_ID_LABEL]: intent.appId } }),
      ownerReferences: [{ apiVersion: "v1", kind: "Pod", name: intent.podName, uid: intent.podUid, controller: true }],
    },
    spec,
  };
}

function demandUnit(unit: DemandUnit): Record<string, unknown> {
  const out: Record<string, unknown> = { resources: quantities(unit.resources), count: unit.count };
  if (unit.podNamesByNamespace) out["pod-names-by-namespace"] = unit.podNamesByNamespace;
  return out;
}

function quantities(r: Resources): Record<string, string> {
  return { cpu: formatCpu(r.cpu), memory: formatMemory(r.memory), [GPU_RESOURCE]: String(r.gpu) };
}

function statusCode(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

function retryable(e: unknown): boolean {
  const code = statusCode(e);
  return code === undefined || code >= 500 || code === 429;
}


export class DemandWriter {
  private readonly api: KubeApi;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly crdPollMs: number;
  private isAvailable = false;
  private stopped = false;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Demands (namespace/name) believed to exist, oldest first. */
  private readonly known = new Set<string>();
  /** False when `known` may miss existing demands; deletes then always call the API. */
  private knownIsComplete = true;
  /** Tail of the operation chain of each demand with operations in flight. */
  private readonly chains = new Map<string, Promise<void>>();
  private skipped = 0;
  private lastSkipLogMs = -Infinity;

  constructor(opts: DemandWriterOptions) {
    this.api = new KubeApi(opts.kc);
    this.log = opts.log.child({ component: "demands" });
    this.clock = opts.clock ?? Date.now;
    this.crdPollMs = opts.crdPollMs ?? 60_000;
  }

  /** Whether the Demand CRD is available and demands are being written. */
  get available(): boolean {
    return this.isAvailable;
  }

  /** Looks for the CRD once; when it is not there, keeps looking every crdPollMs. Never rejects. */
  async start(): Promise<void> {
    this.stopped = false;
    if (await this.becomeAvailable()) return;
    this.log.info({ crd: DEMAND_CRD_NAME, pollMs: this.crdPollMs }, "demand CRD not available; demands disabled until it appears");
    this.schedulePoll();
  }

  /**
   * Re-lists existing demands into the known set. Call on becoming leader: another replica may have created
   * demands since this one last listed, and their deletes must not be skipped.
   */
  async resync(): Promise<void> {
    if (!this.isAvailable) return;
    this.knownIsComplete = true;
    await this.seedKnown();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** Creates or deletes one demand. Resolves when done (or skipped); rejects with context when it failed. */
  apply(intent: DemandIntent): Promise<void> {
    const name = demandName(intent.podName);
    const key = `${intent.namespace}/${name}`;
    if (!this.isAvailable) {
      this.noteSkipped(key, intent.op);
      return Promise.resolve();
    }
    if (intent.op === "create" && !intent.instanceGroup) {
      this.log.error({ demand: key, podName: intent.podName, podNamespace: intent.namespace }, "pod has no instance group; no demand created");
      return Promise.resolve();
    }
    return this.inOrder(key, () =>
      intent.op === "create" ? this.create(key, intent) : this.delete(key, intent.namespace, name),
    );
  }

  // ---- operations ---------------------------------------------------------------------------

  private async create(key: string, intent: CreateIntent): Promise<void> {
    const fields = { demand: key, instanceGroup: intent.instanceGroup, sparkAppID: intent.appId };
    try {
      await this.withRetries(key, "create", () =>
        this.api.create(objectPath(`${DEMAND_GROUP}/${DEMAND_VERSION}`, DEMAND_PLURAL, intent.namespace), demandObject(intent)),
      );
      this.log.info(fields, "demand created");
    } catch (e) {
      if (statusCode(e) !== 409) {
        // A timeout or 5xx may still have created it: remember it so that the delete is not skipped.
        if (retryable(e)) this.remember(key);
        throw new Error(`create demand ${key}: ${(e as Error).message}`, { cause: e });
      }
      this.log.debug(fields, "demand already exists");
    }
    this.remember(key);
  }

  private async delete(key: string, namespace: string, name: string): Promise<void> {
    if (!this.known.has(key) && this.knownIsComplete) return;
    try {
      await this.withRetries(key, "delete", () =>
        this.api.delete(objectPath(`${DEMAND_GROUP}/${DEMAND_VERSION}`, DEMAND_PLURAL, namespace, name)),
      );
      this.log.info({ demand: key }, "demand deleted");
    } catch (e) {
      if (statusCode(e) !== 404) throw new Error(`delete demand ${key}: ${(e as Error).message}`, { cause: e });
    }
    this.known.delete(key);
  }

  private async withRetries(key: string, op: string, call: () => Promise<unknown>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await call();
        return;
      } catch (e) {
        if (attempt >= MAX_ATTEMPTS || this.stopped || !retryable(e)) throw e;
        const delayMs = backoffMs({ initialBackoffMs: INITIAL_BACKOFF_MS, maxBackoffMs: MAX_BACKOFF_MS }, attempt);
        this.log.warn({ demand: key, op, attempt, delayMs, err: e }, "demand write failed; retrying");
        await sleep(delayMs);
      }
    }
  }

  /** Runs `op` after every earlier operation on the same demand has settled. */
  private inOrder(key: string, op: () => Promise<void>): Promise<void> {
    const result = (this.chains.get(key) ?? Promise.resolve()).then(op);
    const tail = result.catch(() => undefined);
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return result;
  }

  private remember(key: string): void {
    this.known.delete(key);
    this.known.add(key);
    if (this.known.size > MAX_TRACKED) {
      this.known.delete(this.known.values().next().value!);
      this.knownIsComplete = false;
    }
  }

  private noteSkipped(key: string, op: DemandIntent["op"]): void {
    this.skipped++;
    const now = this.clock();
    if (now - this.lastSkipLogMs < this.crdPollMs) {
      this.log.debug({ demand: key, op }, "demand CRD not available; demand skipped");
      return;
    }
    this.log.info({ demand: key, op, skippedSinceLastLog: this.skipped, crd: DEMAND_CRD_NAME }, "demand CRD not available; demands skipped");
    this.skipped = 0;
    this.lastSkipLogMs = now;
  }

  // ---- CRD discovery ------------------------------------------------------------------------

  private schedulePoll(): void {
    if (this.stopped) return;
    this.pollTimer = setTimeout(() => {
      void this.becomeAvailable().then((ok) => {
        if (!ok) this.schedulePoll();
      });
    }, this.crdPollMs);
  }

  /** Checks the CRD; when it is ready, seeds the known set and enables demands. */
  private async becomeAvailable(): Promise<boolean> {
    if (!(await this.crdReady()) || this.stopped) return false;
    await this.seedKnown();
    this.isAvailable = true;
    this.log.info({ crd: DEMAND_CRD_NAME, existingDemands: this.known.size }, "demand CRD is established; demands enabled");
    return true;
  }

  private async crdReady(): Promise<boolean> {
    let crd: k8s.V1CustomResourceDefinition;
    try {
      crd = await this.api.get<k8s.V1CustomResourceDefinition>(objectPath("apiextensions.k8s.io/v1", "customresourcedefinitions", undefined, DEMAND_CRD_NAME));
    } catch (e) {
      if (statusCode(e) !== 404) this.log.warn({ crd: DEMAND_CRD_NAME, err: e }, "cannot read demand CRD");
      return false;
    }
    const established = crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ?? false;
    const served = (crd.spec?.versions ?? []).some((v) => v.name === DEMAND_VERSION && v.served);
    if (established && !served) {
      this.log.warn({ crd: DEMAND_CRD_NAME, version: DEMAND_VERSION }, "demand CRD does not serve the version spark-scheduler writes");
    }
    return established && served;
  }

  private async seedKnown(): Promise<void> {
    try {
      const list = await this.api.get<{ items?: { metadata?: { name?: string; namespace?: string } }[] }>(objectPath(`${DEMAND_GROUP}/${DEMAND_VERSION}`, DEMAND_PLURAL), {
        labelSelector: APP_ID_LABEL,
      });
      for (const item of list.items ?? []) {
        const { name, namespace } = item.metadata ?? {};
        if (name && namespace) this.remember(`${namespace}/${name}`);
      }
    } catch (e) {
      this.knownIsComplete = false;
      this.log.warn({ err: e }, "cannot list existing demands; every demand delete will call the API");
    }
  }
}
