// POST pods/{name}/binding (and the legacy namespaces/{ns}/bindings): how a scheduler
// assigns a pod to a node. Mirrors pkg/registry/core/pod/storage BindingREST.
import { Binding } from "kubernetes-models/v1/Binding";
import { decodeObject } from "./decode.ts";
import { fieldError, invalid } from "./field-errors.ts";
import { nowTimestamp, type ObjectApi } from "./object-api.ts";
import { podResource } from "./pods.ts";
import { badRequest, conflict, notFound, successStatus } from "./status.ts";

type Json = Record<string, unknown>;

const BINDING_TARGET = { apiVersion: "v1", kind: "Binding", typeName: "V1Binding", schema: Binding };

export function bindPod(api: ObjectApi, namespace: string, podName: string | undefined, body: unknown): Record<string, unknown> {
  const { object: binding, schemaErrors } = decodeObject(body, BINDING_TARGET, "Strict");
  const name = binding.metadata.name ?? "";
  if (podName !== undefined && name !== podName) {
    throw badRequest(`the name of the object (${name}) does not match the name on the URL (${podName})`);
  }
  if (binding.metadata.namespace && binding.metadata.namespace !== namespace) {
    throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
  }
  const target = (binding["target"] ?? {}) as Json;
  const errs = [...schemaErrors];
  if (!target["name"]) errs.push(fieldError.required("target.name"));
  if (target["kind"] !== undefined && target["kind"] !== "" && target["kind"] !== "Node") {
    errs.push(fieldError.notSupported("target.kind", target["kind"], ["Node", "<empty>"]));
  }
  if (errs.length > 0) throw invalid("", "Binding", name, errs);

  const bindingResource = { group: "", resource: "pods/binding" };
  const pod = api.get(podResource.bucket, namespace, name);
  if (!pod) throw notFound({ group: "", resource: "pods" }, name);
  const nodeName = String(target["name"]);
  const spec = (pod["spec"] ?? {}) as Json;
  if (pod.metadata.deletionTimestamp) {
    throw conflict(bindingResource, name, `pod ${name} is being deleted, cannot be assigned to a host`);
  }
  if (spec["nodeName"]) {
    throw conflict(bindingResource, name, `pod ${name} is already assigned to node "${String(spec["nodeName"])}"`);
  }
  const resourceVersion = binding.metadata.resourceVersion;
  if (resourceVersion && resourceVersion !== pod.metadata.resourceVersion) {
    throw conflict({ group: "", resource: "pods" }, name, "the object has been modified; please apply your changes to the latest version and try again");
  }
  spec["nodeName"] = nodeName;
  pod["spec"] = spec;
  const annotations = binding.metadata.annotations;
  if (annotations) pod.metadata.annotations = { ...pod.metadata.annotations, ...annotations };
  const status = (pod["status"] ?? {}) as Json;
  const conditions = ((status["conditions"] ?? []) as Json[]).filter((c) => c["type"] !== "PodScheduled");
  conditions.push({ type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: nowTimestamp() });
  status["conditions"] = conditions;
  pod["status"] = status;
  api.store.put(podResource.bucket, pod);
  return successStatus(201);
}
