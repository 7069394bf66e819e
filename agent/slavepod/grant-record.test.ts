import { describe, expect, test } from "bun:test";
import type { V1Pod } from "@kubernetes/client-node";
import type { MountedDevice } from "../../src/api/agent.ts";
import { annotateGrant, grantAnnotations, readGrant } from "./grant-record.ts";
import { slavePodSelector } from "./keys.ts";

const DEVICES: MountedDevice[] = [
  { deviceId: "loop0", resource: "example.com/loop", path: "/dev/example-loop0", type: "b", major: 7, minor: 3, access: "rw", mode: 0o660, uid: 0, gid: 6 },
];
const CONTAINER_ID = "containerd://0123abcd";
const slave: V1Pod = { metadata: { name: "trainer-dm-loop-x7k2p", namespace: "ml", annotations: { keep: "me" } } };

const withAnnotation = (value: string): V1Pod => ({ ...slave, metadata: { ...slave.metadata, annotations: { "device-mounter.io/devices": value } } });

describe("grant record", () => {
  test("what is written is read back, and other annotations stay", () => {
    const annotated = annotateGrant(slave, DEVICES, CONTAINER_ID);
    expect(annotated.metadata?.annotations?.keep).toBe("me");
    expect(JSON.parse(annotated.metadata?.annotations?.["device-mounter.io/devices"] ?? "")).toEqual({ version: 1, containerId: CONTAINER_ID, devices: DEVICES });
    expect(readGrant(annotated)).toEqual({ grant: { version: 1, containerId: CONTAINER_ID, devices: DEVICES } });
    expect(slave.metadata?.annotations).toEqual({ keep: "me" });
    expect(Object.keys(grantAnnotations(DEVICES, CONTAINER_ID))).toEqual(["device-mounter.io/devices"]);
  });

  test("absent, not JSON, or not a record: null and why", () => {
    expect(readGrant(slave)).toEqual({ grant: null, reason: "slave pod ml/trainer-dm-loop-x7k2p has no device-mounter.io/devices annotation" });
    expect(readGrant(withAnnotation("{oops")).reason).toStartWith("slave pod ml/trainer-dm-loop-x7k2p: device-mounter.io/devices is not JSON: ");
    const wrong = JSON.stringify({ version: 1, containerId: CONTAINER_ID, devices: [{ ...DEVICES[0], major: -1, path: "dev/x" }] });
    expect(readGrant(withAnnotation(wrong))).toEqual({
      grant: null,
      reason:
        "slave pod ml/trainer-dm-loop-x7k2p: device-mounter.io/devices is not a grant record: devices[0][path]: Invalid start: Expected \"/\" but received \"d\"; devices[0][major]: Invalid value: Expected >=0 but received -1",
    });
    expect(readGrant(withAnnotation('{"version":2}')).grant).toBeNull();
  });
});

describe("slavePodSelector", () => {
  test("selects by owner, and optionally container and device type", () => {
    expect(slavePodSelector({ ownerUid: "u1" })).toBe("device-mounter.io/slave=true,device-mounter.io/owner-uid=u1");
    expect(slavePodSelector({ ownerUid: "u1", container: "main", deviceType: "NVIDIA_GPU" })).toBe(
      "device-mounter.io/slave=true,device-mounter.io/owner-uid=u1,device-mounter.io/container=main,device-mounter.io/device-type=NVIDIA_GPU",
    );
  });
});
