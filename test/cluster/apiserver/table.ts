// Server-side printing (meta.k8s.io/v1 Table), which kubectl asks for on every `get`.
import type { KubeObject } from "./store.ts";

export interface TableColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  format?: string;
  description: string;
  priority?: number;
}

export interface TableConvertor {
  columns: TableColumn[];
  cells(obj: KubeObject, now: number): unknown[];
}

/** duration.HumanDuration from k8s.io/apimachinery. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 365 * 8) {
    const dy = days % 365;
    return dy === 0 ? `${Math.trunc(days / 365)}y` : `${Math.trunc(days / 365)}y${dy}d`;
  }
  return `${Math.trunc(days / 365)}y`;
}

export function age(timestamp: string | undefined, now: number): string {
  if (!timestamp) return "<unknown>";
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? "<unknown>" : humanDuration(now - t);
}

export const NAME_COLUMN: TableColumn = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
};
export const AGE_COLUMN: TableColumn = {
  name: "Age",
  type: "string",
  description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
};

/** rest.NewDefaultTableConvertor: NAME and CREATED AT. */
export const DEFAULT_TABLE: TableConvertor = {
  columns: [
    NAME_COLUMN,
    { name: "Created At", type: "date", description: "CreationTimestamp is a timestamp representing the server time when this object was created." },
  ],
  cells: (obj) => [obj.metadata.name ?? "", obj.metadata.creationTimestamp ?? ""],
};

function partialObjectMetadata(obj: KubeObject): Record<string, unknown> {
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata };
}

export type IncludeObject = "None" | "Metadata" | "Object";

export function toTable(
  convertor: TableConvertor,
  objects: KubeObject[],
  listMeta: Record<string, unknown>,
  include: IncludeObject,
  withColumns: boolean,
): Record<string, unknown> {
  const now = Date.now();
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: listMeta,
    columnDefinitions: withColumns ? convertor.columns.map((c) => ({ format: "", priority: 0, ...c })) : [],
    rows: objects.map((obj) => {
      const row: Record<string, unknown> = { cells: convertor.cells(obj, now) };
      if (include === "Metadata") row["object"] = partialObjectMetadata(obj);
      if (include === "Object") row["object"] = obj;
      return row;
    }),
  };
}
