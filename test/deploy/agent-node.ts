// Run by agent-capabilities.test.ts under setpriv: makes one device node in a
// container the way the agent does (agent/container/nodes.ts), with the host
// node's owner, which the node CLI never sets (it uses root:root).
//   bun test/deploy/agent-node.ts PID PATH b|c MAJOR MINOR MODE UID GID
import { changeNodes } from "../../agent/container/nodes.ts";

const [pid, path, type, major, minor, mode, uid, gid] = process.argv.slice(2);
const outcome = changeNodes(Number(pid), {
  unlink: [],
  ensure: [{ path: path!, type: type as "b" | "c", major: Number(major), minor: Number(minor), mode: Number(mode), uid: Number(uid), gid: Number(gid) }],
});
if (outcome.error) {
  console.error(`agent-node: ${outcome.error.message}`);
  process.exit(1);
}
console.log(`made ${path}`);
