// Request bodies in application/vnd.kubernetes.protobuf. kubectl's typed clients (create
// namespace/configmap/secret/serviceaccount, auth can-i, auth whoami) send protobuf, so a
// server without it fails commands that work on a real cluster. Only the kinds those
// commands send are described; field numbers are those of k8s.io/api's generated.proto.
import { unsupportedMediaType } from "./status.ts";

type Scalar = "string" | "bytes" | "int64" | "int32" | "bool";
interface Field {
  name: string;
  /** A scalar, a message name, or "map:<value type>" (map<string, X>). */
  type: Scalar | string;
  repeated?: boolean;
}
type Message = Record<number, Field>;

const MESSAGES: Record<string, Message> = {
  ObjectMeta: {
    1: { name: "name", type: "string" },
    2: { name: "generateName", type: "string" },
    3: { name: "namespace", type: "string" },
    4: { name: "selfLink", type: "string" },
    5: { name: "uid", type: "string" },
    6: { name: "resourceVersion", type: "string" },
    7: { name: "generation", type: "int64" },
    8: { name: "creationTimestamp", type: "Time" },
    9: { name: "deletionTimestamp", type: "Time" },
    10: { name: "deletionGracePeriodSeconds", type: "int64" },
    11: { name: "labels", type: "map:string" },
    12: { name: "annotations", type: "map:string" },
    13: { name: "ownerReferences", type: "OwnerReference", repeated: true },
    14: { name: "finalizers", type: "string", repeated: true },
  },
  OwnerReference: {
    1: { name: "kind", type: "string" },
    3: { name: "name", type: "string" },
    4: { name: "uid", type: "string" },
    5: { name: "apiVersion", type: "string" },
    6: { name: "controller", type: "bool" },
    7: { name: "blockOwnerDeletion", type: "bool" },
  },
  Time: { 1: { name: "seconds", type: "int64" }, 2: { name: "nanos", type: "int32" } },
  TypeMeta: { 1: { name: "apiVersion", type: "string" }, 2: { name: "kind", type: "string" } },
  Unknown: {
    1: { name: "typeMeta", type: "TypeMeta" },
    2: { name: "raw", type: "bytes" },
    3: { name: "contentEncoding", type: "string" },
    4: { name: "contentType", type: "string" },
  },
  Namespace: { 1: { name: "metadata", type: "ObjectMeta" }, 2: { name: "spec", type: "NamespaceSpec" } },
  NamespaceSpec: { 1: { name: "finalizers", type: "string", repeated: true } },
  ConfigMap: {
    1: { name: "metadata", type: "ObjectMeta" },
    2: { name: "data", type: "map:string" },
    3: { name: "binaryData", type: "map:bytes" },
    4: { name: "immutable", type: "bool" },
  },
  Secret: {
    1: { name: "metadata", type: "ObjectMeta" },
    2: { name: "data", type: "map:bytes" },
    3: { name: "type", type: "string" },
    4: { name: "stringData", type: "map:string" },
    5: { name: "immutable", type: "bool" },
  },
  ServiceAccount: {
    1: { name: "metadata", type: "ObjectMeta" },
    2: { name: "secrets", type: "ObjectReference", repeated: true },
    3: { name: "imagePullSecrets", type: "LocalObjectReference", repeated: true },
    4: { name: "automountServiceAccountToken", type: "bool" },
  },
  ObjectReference: {
    1: { name: "kind", type: "string" },
    2: { name: "namespace", type: "string" },
    3: { name: "name", type: "string" },
    4: { name: "uid", type: "string" },
    5: { name: "apiVersion", type: "string" },
    6: { name: "resourceVersion", type: "string" },
    7: { name: "fieldPath", type: "string" },
  },
  LocalObjectReference: { 1: { name: "name", type: "string" } },
  SubjectAccessReview: { 1: { name: "metadata", type: "ObjectMeta" }, 2: { name: "spec", type: "SubjectAccessReviewSpec" } },
  LocalSubjectAccessReview: { 1: { name: "metadata", type: "ObjectMeta" }, 2: { name: "spec", type: "SubjectAccessReviewSpec" } },
  SubjectAccessReviewSpec: {
    1: { name: "resourceAttributes", type: "ResourceAttributes" },
    2: { name: "nonResourceAttributes", type: "NonResourceAttributes" },
    3: { name: "user", type: "string" },
    4: { name: "groups", type: "string", repeated: true },
    5: { name: "extra", type: "map:ExtraValue" },
    6: { name: "uid", type: "string" },
  },
  SelfSubjectAccessReview: { 1: { name: "metadata", type: "ObjectMeta" }, 2: { name: "spec", type: "SelfSubjectAccessReviewSpec" } },
  SelfSubjectAccessReviewSpec: {
    1: { name: "resourceAttributes", type: "ResourceAttributes" },
    2: { name: "nonResourceAttributes", type: "NonResourceAttributes" },
  },
  ResourceAttributes: {
    1: { name: "namespace", type: "string" },
    2: { name: "verb", type: "string" },
    3: { name: "group", type: "string" },
    4: { name: "version", type: "string" },
    5: { name: "resource", type: "string" },
    6: { name: "subresource", type: "string" },
    7: { name: "name", type: "string" },
  },
  NonResourceAttributes: { 1: { name: "path", type: "string" }, 2: { name: "verb", type: "string" } },
  ExtraValue: { 1: { name: "items", type: "string", repeated: true } },
  SelfSubjectReview: { 1: { name: "metadata", type: "ObjectMeta" } },
  TokenRequest: { 1: { name: "metadata", type: "ObjectMeta" }, 2: { name: "spec", type: "TokenRequestSpec" } },
  TokenRequestSpec: {
    1: { name: "audiences", type: "string", repeated: true },
    3: { name: "boundObjectRef", type: "BoundObjectReference" },
    4: { name: "expirationSeconds", type: "int64" },
  },
  BoundObjectReference: {
    1: { name: "kind", type: "string" },
    2: { name: "apiVersion", type: "string" },
    3: { name: "name", type: "string" },
    4: { name: "uid", type: "string" },
  },
  TokenReview: { 1: { name: "metadata", type: "ObjectMeta" }, 2: { name: "spec", type: "TokenReviewSpec" } },
  TokenReviewSpec: { 1: { name: "token", type: "string" }, 2: { name: "audiences", type: "string", repeated: true } },
};

export const PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf";
const MAGIC = [0x6b, 0x38, 0x73, 0x00];

class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.bytes[this.offset++];
      if (byte === undefined) throw new Error("truncated varint");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  take(length: number): Uint8Array {
    if (this.offset + length > this.bytes.length) throw new Error("truncated field");
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.take(8);
    else if (wireType === 2) this.take(Number(this.varint()));
    else if (wireType === 5) this.take(4);
    else throw new Error(`unsupported wire type ${wireType}`);
  }
}

function timeToJson(message: Record<string, unknown>): string {
  const seconds = Number(message["seconds"] ?? 0);
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

function scalar(type: string, reader: Reader, wireType: number): unknown {
  if (type === "string" || type === "bytes") {
    const bytes = reader.take(Number(reader.varint()));
    return type === "string" ? new TextDecoder().decode(bytes) : Buffer.from(bytes).toString("base64");
  }
  if (wireType !== 0) throw new Error(`field of type ${type} has wire type ${wireType}`);
  const value = reader.varint();
  if (type === "bool") return value !== 0n;
  if (type === "int32") return Number(BigInt.asIntN(32, value));
  return Number(BigInt.asIntN(64, value));
}

function decodeMessage(name: string, bytes: Uint8Array): Record<string, unknown> {
  const schema = MESSAGES[name];
  if (!schema) throw new Error(`no protobuf schema for ${name}`);
  const reader = new Reader(bytes);
  const out: Record<string, unknown> = {};
  while (!reader.done) {
    const key = Number(reader.varint());
    const number = key >>> 3;
    const wireType = key & 7;
    const field = schema[number];
    if (!field) {
      reader.skip(wireType);
      continue;
    }
    let value: unknown;
    if (field.type.startsWith("map:")) {
      const entry = reader.take(Number(reader.varint()));
      const valueType = field.type.slice(4);
      const entryReader = new Reader(entry);
      let k = "";
      let v: unknown = valueType === "string" || valueType === "bytes" ? "" : {};
      while (!entryReader.done) {
        const entryKey = Number(entryReader.varint());
        if (entryKey >>> 3 === 1) k = scalar("string", entryReader, entryKey & 7) as string;
        else if (entryKey >>> 3 === 2) {
          v = MESSAGES[valueType] ? decodeMessage(valueType, entryReader.take(Number(entryReader.varint()))) : scalar(valueType, entryReader, entryKey & 7);
        } else entryReader.skip(entryKey & 7);
      }
      if (valueType === "ExtraValue") v = (v as { items?: string[] }).items ?? [];
      const map = (out[field.name] ??= {}) as Record<string, unknown>;
      map[k] = v;
      continue;
    }
    if (MESSAGES[field.type]) {
      const nested = decodeMessage(field.type, reader.take(Number(reader.varint())));
      // A zero metav1.Time is null in JSON, i.e. absent.
      if (field.type === "Time" && !nested["seconds"]) continue;
      value = field.type === "Time" ? timeToJson(nested) : nested;
    } else {
      value = scalar(field.type, reader, wireType);
    }
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    // Go writes zero values of non-pointer fields; its JSON omits them again (omitempty).
    else if (value !== "" && value !== 0 && value !== false) out[field.name] = value;
  }
  return out;
}

/** Decodes a protobuf request body into the JSON object kube would have decoded. */
export function decodeProtobufBody(body: Uint8Array): Record<string, unknown> {
  if (body.length < 4 || MAGIC.some((b, i) => body[i] !== b)) {
    throw unsupportedMediaType(PROTOBUF_MEDIA_TYPE, ["application/json"]);
  }
  const envelope = decodeMessage("Unknown", body.subarray(4));
  const typeMeta = (envelope["typeMeta"] ?? {}) as { apiVersion?: string; kind?: string };
  const kind = typeMeta.kind ?? "";
  if (!MESSAGES[kind] || !MESSAGES[kind]?.[1] || MESSAGES[kind]?.[1]?.type !== "ObjectMeta") {
    throw unsupportedMediaType(PROTOBUF_MEDIA_TYPE, ["application/json"]);
  }
  const raw = Buffer.from(String(envelope["raw"] ?? ""), "base64");
  return { apiVersion: typeMeta.apiVersion, kind, ...decodeMessage(kind, raw) };
}
