import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { registerCleanup } from "./cleanup.ts";
import { runCommand, runCommandOk, runCommandSync } from "./command.ts";
import { makeTempDir } from "./tempdir.ts";
import { splitDev } from "../../agent/container/host-device.ts";

export interface CreateLoopDeviceOptions {
  /** Default 1 MiB. */
  sizeBytes?: number;
  /** Bytes written at offset 0; default 4096 random bytes. */
  pattern?: Uint8Array;
}

export interface LoopDevice {
  /** /dev/loopN */
  path: string;
  major: number;
  minor: number;
  backingFile: string;
  /** The first 4096 bytes of the device (fewer if the device is smaller). */
  bytes: Uint8Array;
  /** losetup -d and remove the backing file; idempotent. */
  detach(): Promise<void>;
}

const KNOWN_PREFIX_BYTES = 4096;
const ATTACH_ATTEMPTS = 5;

function loopName(path: string): string {
  const name = path.replace(/^\/dev\//, "");
  if (!/^loop\d+$/.test(name)) throw new Error(`losetup returned an unexpected device name: ${path}`);
  return name;
}

function backingFileOf(name: string): string | undefined {
  try {
    return readFileSync(`/sys/block/${name}/loop/backing_file`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function deviceNumbersOf(name: string): { major: number; minor: number } {
  const [major, minor] = readFileSync(`/sys/block/${name}/dev`, "utf8").trim().split(":").map(Number);
  if (major === undefined || minor === undefined) throw new Error(`cannot parse /sys/block/${name}/dev`);
  return { major, minor };
}

/**
 * `losetup --find --show` can lose a race with another process binding the
 * same free device; it then fails with EBUSY, or (older losetup) we find the
 * device bound to someone else's file. Either way: try again.
 */
async function attach(backingFile: string): Promise<string> {
  const errors: string[] = [];
  for (let attempt = 1; attempt <= ATTACH_ATTEMPTS; attempt++) {
    const result = await runCommand(["losetup", "--find", "--show", backingFile]);
    const path = new TextDecoder().decode(result.stdout).trim();
    if (result.code === 0 && backingFileOf(loopName(path)) === backingFile) return path;
    errors.push(result.code === 0 ? `${path} ended up bound to ${backingFileOf(loopName(path))}` : result.stderr.trim());
  }
  throw new Error(`losetup --find --show ${backingFile} failed ${ATTACH_ATTEMPTS} times: ${errors.join("; ")}`);
}

/** devtmpfs normally creates /dev/loopN; a plain /dev (e.g. in a container) does not. */
async function ensureDeviceNode(path: string, major: number, minor: number): Promise<boolean> {
  if (existsSync(path)) {
    const stat = statSync(path, { bigint: true });
    const found = splitDev(stat.rdev);
    if (!stat.isBlockDevice() || found.major !== major || found.minor !== minor) {
      throw new Error(`${path} exists but is not block device ${major}:${minor}`);
    }
    return false;
  }
  await runCommandOk(["mknod", "-m", "0660", path, "b", String(major), String(minor)]);
  return true;
}

export async function createLoopDevice(options: CreateLoopDeviceOptions = {}): Promise<LoopDevice> {
  const sizeBytes = options.sizeBytes ?? 1024 * 1024;
  const pattern = options.pattern ?? crypto.getRandomValues(new Uint8Array(KNOWN_PREFIX_BYTES));
  if (pattern.length > sizeBytes) throw new Error(`loop pattern (${pattern.length} bytes) is larger than the device (${sizeBytes})`);

  const dir = makeTempDir("loop");
  const backingFile = join(dir.path, "backing.img");
  const content = new Uint8Array(sizeBytes);
  content.set(pattern);
  writeFileSync(backingFile, content);

  const path = await attach(backingFile);
  const name = loopName(path);
  let createdNode = false;
  let detaching: Promise<void> | undefined;
  const detachNow = async (): Promise<void> => {
    unregister();
    // Only detach if the device is still ours: after a detach elsewhere the
    // number may already belong to another test's file.
    if (backingFileOf(name) === backingFile) await runCommandOk(["losetup", "--detach", path]);
    if (createdNode) rmSync(path, { force: true });
    dir.remove();
  };
  const detach = (): Promise<void> => {
    detaching ??= detachNow();
    return detaching;
  };
  const unregister = registerCleanup(detach, `loop device ${path} (${backingFile})`, {
    onExit: () => {
      if (backingFileOf(name) === backingFile) runCommandSync(["losetup", "--detach", path]);
      dir.remove();
    },
  });

  try {
    const { major, minor } = deviceNumbersOf(name);
    createdNode = await ensureDeviceNode(path, major, minor);
    return { path, major, minor, backingFile, bytes: content.slice(0, KNOWN_PREFIX_BYTES), detach };
  } catch (error) {
    await detach();
    throw error;
  }
}
