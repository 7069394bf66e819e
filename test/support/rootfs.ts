import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCommandOk } from "./command.ts";
import { registerCleanup } from "./cleanup.ts";
import { makeTempDir } from "./tempdir.ts";

export const HOST_BUSYBOX = "/bin/busybox";

const ROOTFS_DIRS = ["bin", "dev", "etc", "proc", "root", "sys", "tmp"];
const PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP = "root:x:0:\nnobody:x:65534:\n";

let shared: Promise<string> | undefined;

/**
 * The busybox rootfs shared (read-only) by all containers of this process.
 * Built on first use; cleanupAll() removes it, and the next use rebuilds it.
 */
export function sharedBusyboxRootfs(): Promise<string> {
  shared ??= buildShared();
  return shared;
}

async function buildShared(): Promise<string> {
  const dir = makeTempDir("rootfs");
  const forget = () => {
    shared = undefined;
  };
  registerCleanup(forget, "forget shared busybox rootfs", { onExit: forget });
  const rootfs = join(dir.path, "rootfs");
  await buildBusyboxRootfs(rootfs);
  return rootfs;
}

/** Writes a minimal busybox rootfs at `rootfs` (which must not exist yet). */
export async function buildBusyboxRootfs(rootfs: string): Promise<void> {
  mkdirSync(rootfs, { mode: 0o755 });
  for (const dir of ROOTFS_DIRS) mkdirSync(join(rootfs, dir), { mode: 0o755 });
  chmodSync(join(rootfs, "tmp"), 0o1777);
  copyFileSync(HOST_BUSYBOX, join(rootfs, "bin/busybox"));
  chmodSync(join(rootfs, "bin/busybox"), 0o755);
  // What `busybox --install -s /bin` would do, without running code in the rootfs.
  const { stdout } = await runCommandOk([HOST_BUSYBOX, "--list"]);
  for (const applet of new TextDecoder().decode(stdout).split("\n")) {
    if (applet === "" || applet === "busybox") continue;
    symlinkSync("/bin/busybox", join(rootfs, "bin", applet));
  }
  writeFileSync(join(rootfs, "etc/passwd"), PASSWD);
  writeFileSync(join(rootfs, "etc/group"), GROUP);
}
