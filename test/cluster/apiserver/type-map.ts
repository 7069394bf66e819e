// The Kubernetes type tree, read from the attribute maps @kubernetes/client-node generates
// from the OpenAPI schema: which fields a type has and what type each field is.
import * as clientModels from "@kubernetes/client-node";

export interface Attribute {
  baseName: string;
  type: string;
  format: string;
}

interface ModelClass {
  getAttributeTypeMap(): Attribute[];
}

const cache = new Map<string, Map<string, Attribute> | undefined>();

/** Fields of a model type such as "V1PodSpec", or undefined when it is not a model. */
export function attributesOf(typeName: string): Map<string, Attribute> | undefined {
  if (cache.has(typeName)) return cache.get(typeName);
  const candidate = (clientModels as Record<string, unknown>)[typeName];
  let attributes: Map<string, Attribute> | undefined;
  if (typeof candidate === "function" && "getAttributeTypeMap" in candidate) {
    attributes = new Map((candidate as unknown as ModelClass).getAttributeTypeMap().map((a) => [a.baseName, a]));
  }
  cache.set(typeName, attributes);
  return attributes;
}

/** "Array<V1Container>" → "V1Container". */
export function arrayElementType(type: string): string | undefined {
  return /^Array<(.+)>$/.exec(type)?.[1];
}

/** "{ [key: string]: string; }" → "string". */
export function mapValueType(type: string): string | undefined {
  return /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
}
