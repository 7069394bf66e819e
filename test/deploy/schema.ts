// Validation of rendered objects against the Kubernetes schemas of two
// packages: kubernetes-models (types, formats, enums and required fields, as
// the API server's OpenAPI has them) and @kubernetes/client-node's model
// type maps (which fields exist at all, so that a misspelt field, which the
// API server would drop with only a warning, fails here).
import * as k8s from "@kubernetes/client-node";
import type { Manifest } from "./manifests.ts";

interface Attribute {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap?: () => Attribute[] };

/** Fields that no schema of the type knows, as paths (spec.template.spec.containers[0].readOnlyRootFileSystem). */
export function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) return Array.isArray(value) ? value.flatMap((item, i) => unknownFields(item, array[1]!, `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) return Object.entries(value as object).flatMap(([key, item]) => unknownFields(item, map[1]!, `${path}[${key}]`));
  const model = (k8s as unknown as Record<string, ModelClass | undefined>)[type];
  if (!model?.getAttributeTypeMap || typeof value !== "object") return [];
  const known = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value as object).flatMap(([key, item]) => {
    const fieldType = known.get(key);
    return fieldType === undefined ? [path ? `${path}.${key}` : key] : unknownFields(item, fieldType, path ? `${path}.${key}` : key);
  });
}

/** Group/version/kind of objects no installed schema package describes. */
export const WITHOUT_SCHEMA_PACKAGE = new Set(["cert-manager.io/v1 Certificate", "cert-manager.io/v1 Issuer"]);

export type SchemaResult = { validated: true } | { validated: false; why: string } | { problems: string[] };

/** Validates one object; `validated: false` only for kinds in WITHOUT_SCHEMA_PACKAGE. */
export async function validateObject(object: Manifest): Promise<SchemaResult> {
  const gvk = `${object.apiVersion} ${object.kind}`;
  const [group, version] = object.apiVersion.includes("/") ? object.apiVersion.split("/") : ["", object.apiVersion];
  let Model: (new (data: unknown) => { validate(): void }) | undefined;
  try {
    const module = await import(`kubernetes-models/${group ? `${group}/` : ""}${version}/${object.kind}`);
    Model = module[object.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    if (WITHOUT_SCHEMA_PACKAGE.has(gvk)) return { validated: false, why: `${gvk}: no schema package for cert-manager is installed` };
    return { problems: [`${gvk}: kubernetes-models has no schema for it`] };
  }
  const problems: string[] = [];
  try {
    new Model(object).validate();
  } catch (e) {
    problems.push(`${gvk} ${object.metadata.name}: ${(e as Error).message}`);
  }
  const typeName = `${version!.charAt(0).toUpperCase()}${version!.slice(1)}${object.kind}`;
  if (!(k8s as unknown as Record<string, ModelClass | undefined>)[typeName]?.getAttributeTypeMap) problems.push(`${gvk}: @kubernetes/client-node has no model ${typeName}`);
  else problems.push(...unknownFields(object, typeName, "").map((field) => `${gvk} ${object.metadata.name}: unknown field ${field}`));
  return problems.length ? { problems } : { validated: true };
}
