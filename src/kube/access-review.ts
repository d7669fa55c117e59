// Who is calling, and may they: a bearer token checked with a TokenReview (authentication.k8s.io/v1) and the
// caller's access checked with a SubjectAccessReview (authorization.k8s.io/v1), so that the cluster's own
// authentication and RBAC decide who may use the admin API. The server side (src/server/access.ts) caches the
// answers; this file only asks.

import type * as k8s from "@kubernetes/client-node";
import { KubeApi, objectPath } from "./client.js";
import type { AccessAttributes, AccessReviewer, ReviewedUser } from "../server/access.js";

export class KubeAccessReviewer implements AccessReviewer {
  private readonly api: KubeApi;

  constructor(kc: k8s.KubeConfig) {
    this.api = new KubeApi(kc);
  }

  async authenticate(token: string): Promise<ReviewedUser | undefined> {
    const review = await this.api.create<k8s.V1TokenReview>(objectPath("authentication.k8s.io/v1", "tokenreviews"), {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token },
    });
    const status = review.status;
    if (!status?.authenticated || !status.user?.username) return undefined;
    return { username: status.user.username, uid: status.user.uid, groups: status.user.groups ?? [], extra: status.user.extra ?? {} };
  }

  async authorize(user: ReviewedUser, attrs: AccessAttributes): Promise<{ allowed: boolean; reason: string }> {
    const review = await this.api.create<k8s.V1SubjectAccessReview>(objectPath("authorization.k8s.io/v1", "subjectaccessreviews"), {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SubjectAccessReview",
      spec: {
        user: user.username,
        uid: user.uid,
        groups: user.groups,
        extra: user.extra,
        resourceAttributes: { group: attrs.group, resource: attrs.resource, verb: attrs.verb, namespace: "" },
      },
    });
    return { allowed: review.status?.allowed === true && review.status.denied !== true, reason: review.status?.reason ?? "" };
  }
}
