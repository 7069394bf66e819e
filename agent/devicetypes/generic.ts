// Device types an operator configures (a file, or a ConfigMap's
// `device-types.yaml` key mounted as one): which resources a type owns and how
// an allocated device ID becomes device nodes, by path templates.
//
//   - name: LOOP
//     resources: [example.com/loop]
//     devices:
//       # the node the device plugin put into the slave pod's container
//       - slavePath: /dev/example-{id}
//     # or a host node named after the ID:  - hostPath: /dev/{id}
//     #                                       containerPath: /dev/dm-{index}
//     companions:
//       - hostPath: /dev/loop-control
//
// {id} is the allocated device ID, {index} its 0-based position among the
// devices of its resource in one mount request.
import { readFileSync } from "node:fs";
import { posix } from "node:path";
import * as v from "valibot";
import { fieldProblems } from "../../src/api/public.ts";
import { StatusError } from "../../src/api/status.ts";
import { qualifiedNameProblems } from "../../src/api/k8s-names.ts";
import { statDeviceNode, statDeviceNodeIfPresent } from "./device-node.ts";
import type { DeviceContext, DeviceType, HostDeviceNode } from "./types.ts";

const PLACEHOLDER = /\{([^{}]*)\}/g;
const DEVICE_PLACEHOLDERS = ["id", "index"];

const placeholderProblem = (template: string, allowed: string[]): string | undefined => {
  const unknown = [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? "").filter((name) => !allowed.includes(name));
  if (unknown.length === 0) return undefined;
  return allowed.length === 0
    ? `placeholders are not allowed here (found ${unknown.map((n) => `{${n}}`).join(", ")})`
    : `unknown placeholder ${unknown.map((n) => `{${n}}`).join(", ")}; allowed: ${allowed.map((n) => `{${n}}`).join(", ")}`;
};

/** A path template: absolute, normalised (no "..", "//" or trailing "/"), only the given placeholders. */
const PathTemplate = (allowed: string[]) =>
  v.pipe(
    v.string(),
    v.startsWith("/", "must be an absolute path"),
    v.check((t) => posix.normalize(t) === t && !t.split("/").includes(".."), "must be a normalised path (no '..', '//' or trailing '/')"),
    v.rawCheck(({ dataset, addIssue }) => {
      const problem = dataset.typed ? placeholderProblem(dataset.value, allowed) : undefined;
      if (problem) addIssue({ message: problem });
    }),
  );

const Access = v.pipe(v.string(), v.regex(/^r?w?m?$/, 'must be a subset of "rwm" in that order'), v.minLength(1, "must not be empty"));

const ResourceName = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problems = qualifiedNameProblems(dataset.value);
    if (problems.length > 0) addIssue({ message: `not a valid resource name: ${problems.join("; ")}` });
  }),
);

/** Used in labels and (lower-cased) in slave pod names, so it must fit both. */
export const TypeName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/, "must be 1-63 letters, digits, '_', '-' or '.', starting and ending with a letter or digit"),
);

const DeviceEntrySchema = v.pipe(
  v.strictObject({
    /** Host node to grant. */
    hostPath: v.optional(PathTemplate(DEVICE_PLACEHOLDERS)),
    /** Node the device plugin created in the slave pod's container, read through its root. */
    slavePath: v.optional(PathTemplate(DEVICE_PLACEHOLDERS)),
    /** Default: the hostPath or slavePath. */
    containerPath: v.optional(PathTemplate(DEVICE_PLACEHOLDERS)),
    access: v.optional(Access, "rw"),
  }),
  v.check((e) => (e.hostPath === undefined) !== (e.slavePath === undefined), "needs exactly one of hostPath and slavePath"),
);

const CompanionSchema = v.strictObject({
  hostPath: PathTemplate([]),
  containerPath: v.optional(PathTemplate([])),
  access: v.optional(Access, "rw"),
  /** Skip it when the host has no such node, instead of failing the mount. */
  optional: v.optional(v.boolean(), false),
});

const GenericTypeSchema = v.strictObject({
  name: TypeName,
  resources: v.pipe(v.array(ResourceName), v.minLength(1, "must name at least one resource")),
  devices: v.pipe(v.array(DeviceEntrySchema), v.minLength(1, "must describe at least one device node")),
  companions: v.optional(v.array(CompanionSchema), []),
});

const ConfigSchema = v.object({ deviceTypes: v.array(GenericTypeSchema) });

export type GenericDeviceTypeConfig = v.InferOutput<typeof GenericTypeSchema>;
export type GenericDeviceEntry = v.InferOutput<typeof DeviceEntrySchema>;

/** The configuration is wrong; every problem is listed, each with where it is. */
export class DeviceTypeConfigError extends Error {
  override readonly name = "DeviceTypeConfigError";
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid device type configuration ${source}:\n  ${problems.join("\n  ")}`);
  }
}

/**
 * Parses and checks a configuration: a YAML (or JSON) list of device types.
 * `reservedNames` are the built-in types' names, which a generic type may not take.
 */
export function parseDeviceTypeConfig(text: string, source: string, reservedNames: string[] = []): GenericDeviceTypeConfig[] {
  let document: unknown;
  try {
    // JSON is YAML 1.2, so one parser reads both.
    document = Bun.YAML.parse(text);
  } catch (error) {
    throw new DeviceTypeConfigError(source, [`not valid YAML or JSON: ${(error as Error).message}`]);
  }
  // An empty file or ConfigMap key means: no generic types.
  const parsed = v.safeParse(ConfigSchema, { deviceTypes: document ?? [] });
  if (!parsed.success) {
    throw new DeviceTypeConfigError(
      source,
      fieldProblems(parsed.issues).map((p) => `${p.field}: ${p.message}`),
    );
  }
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const reserved = new Set(reservedNames.map((n) => n.toUpperCase()));
  parsed.output.deviceTypes.forEach((type, i) => {
    const key = type.name.toUpperCase();
    if (reserved.has(key)) problems.push(`deviceTypes[${i}][name]: ${type.name} is a built-in device type`);
    const first = seen.get(key);
    if (first !== undefined) problems.push(`deviceTypes[${i}][name]: ${type.name} is already the name of deviceTypes[${first}] (names ignore case)`);
    else seen.set(key, i);
    const paths = new Set<string>();
    type.companions.forEach((c, j) => {
      const path = c.containerPath ?? c.hostPath;
      if (paths.has(path)) problems.push(`deviceTypes[${i}][companions][${j}]: container path ${path} is given twice`);
      paths.add(path);
    });
  });
  if (problems.length > 0) throw new DeviceTypeConfigError(source, problems);
  return parsed.output.deviceTypes;
}

export function loadDeviceTypeConfig(path: string, reservedNames: string[] = []): GenericDeviceTypeConfig[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DeviceTypeConfigError(path, [`cannot read it: ${(error as Error).message}`]);
  }
  return parseDeviceTypeConfig(text, path, reservedNames);
}

/**
 * Fills {id} and {index}. A device ID comes from a device plugin: it must stay
 * one path component, so that it cannot point the template elsewhere.
 */
export function expandTemplate(template: string, deviceId: string, index: number, what: string): string {
  if (deviceId === "" || deviceId === "." || deviceId === ".." || /[/\0]/.test(deviceId)) {
    throw new StatusError("InternalError", `${what}: device ID ${JSON.stringify(deviceId)} cannot be used in a path`);
  }
  return template.replace(PLACEHOLDER, (_, name: string) => (name === "id" ? deviceId : String(index)));
}

export function genericDeviceType(config: GenericDeviceTypeConfig): DeviceType {
  return {
    name: config.name,
    resources: [...config.resources],
    devicesFor(resource: string, deviceId: string, context: DeviceContext = { index: 0 }): HostDeviceNode[] {
      if (!config.resources.includes(resource)) {
        throw new StatusError("Invalid", `device type ${config.name} does not own resource ${resource}; it owns ${config.resources.join(", ")}`);
      }
      const what = `device type ${config.name}, ${resource} device ID ${JSON.stringify(deviceId)}`;
      return config.devices.map((entry) => {
        const expand = (template: string) => expandTemplate(template, deviceId, context.index, what);
        let hostPath: string;
        let followSymlinks: boolean;
        if (entry.slavePath !== undefined) {
          if (context.slaveRoot === undefined) {
            throw new StatusError("InternalError", `${what}: its nodes are read from the slave pod's container, but no slave container root was given`);
          }
          hostPath = posix.join(context.slaveRoot, expand(entry.slavePath));
          followSymlinks = false;
        } else {
          hostPath = expand(entry.hostPath ?? "");
          followSymlinks = true;
        }
        const containerPath = expand(entry.containerPath ?? entry.slavePath ?? entry.hostPath ?? "");
        return { hostPath, containerPath, ...statDeviceNode(hostPath, { followSymlinks, what }), access: entry.access };
      });
    },
    companions(): HostDeviceNode[] {
      return config.companions.flatMap((c): HostDeviceNode[] => {
        const what = `device type ${config.name}, companion`;
        const node = c.optional
          ? statDeviceNodeIfPresent(c.hostPath, { followSymlinks: true, what })
          : statDeviceNode(c.hostPath, { followSymlinks: true, what });
        return node ? [{ hostPath: c.hostPath, containerPath: c.containerPath ?? c.hostPath, ...node, access: c.access }] : [];
      });
    },
  };
}
