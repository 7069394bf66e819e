// The device set the agent asks the device layer for. Grants made by others
// on the same container (the node CLI) are kept as they are: the agent only
// adds, removes and repairs its own.
import type { MountedDevice } from "../../src/api/agent.ts";
import { specOf, type DeviceSpec } from "../container/grants.ts";
import type { GrantedDevice } from "../container/record.ts";

export const AGENT_GRANTOR = "agent";

const ours = (d: MountedDevice): DeviceSpec => ({ path: d.path, type: d.type, major: d.major, minor: d.minor, access: d.access, mode: d.mode, uid: d.uid, gid: d.gid, grantor: AGENT_GRANTOR });

/** What is granted now, with `devices` put in at their paths. */
export function withDevices(record: GrantedDevice[], devices: MountedDevice[]): DeviceSpec[] {
  const paths = new Set(devices.map((d) => d.path));
  return [...record.filter((g) => !paths.has(g.path)).map(specOf), ...devices.map(ours)];
}

/** What is granted now, without what the agent granted at `paths`. */
export function withoutDevices(record: GrantedDevice[], paths: ReadonlySet<string>): DeviceSpec[] {
  return record.filter((g) => !(g.grantor === AGENT_GRANTOR && paths.has(g.path))).map(specOf);
}

/** What is granted now, with what was granted at `paths` before a change put back: that change's rollback. */
export function restoredAt(current: GrantedDevice[], before: GrantedDevice[], paths: ReadonlySet<string>): DeviceSpec[] {
  return [...current.filter((g) => !paths.has(g.path)), ...before.filter((g) => paths.has(g.path))].map(specOf);
}

/** Others' grants as they are, and exactly `devices` of the agent's (one per path). */
export function agentDesired(record: GrantedDevice[], devices: MountedDevice[]): DeviceSpec[] {
  const unique = [...new Map(devices.map((d) => [d.path, d])).values()];
  return withDevices(
    record.filter((g) => g.grantor !== AGENT_GRANTOR),
    unique,
  );
}

/** Paths the agent granted that `devices` no longer account for. */
export const agentPathsNotIn = (record: GrantedDevice[], devices: MountedDevice[]) => {
  const wanted = new Set(devices.map((d) => d.path));
  return record.filter((g) => g.grantor === AGENT_GRANTOR && !wanted.has(g.path)).map((g) => g.path);
};
