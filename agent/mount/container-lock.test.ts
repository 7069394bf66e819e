import { describe, expect, test } from "bun:test";
import { ContainerLocks } from "./container-lock.ts";

describe("ContainerLocks", () => {
  test("one holder per container, in arrival order; other containers are not blocked", async () => {
    const locks = new ContainerLocks();
    const order: string[] = [];
    const first = await locks.acquire("pod/a", 1000, "a");
    const second = locks.acquire("pod/a", 1000, "a").then((release) => {
      order.push("second");
      return release;
    });
    const other = await locks.acquire("pod/b", 1000, "b");
    order.push("other");
    expect(order).toEqual(["other"]);
    first();
    (await second)();
    other();
    expect(order).toEqual(["other", "second"]);
    expect(locks.busy("pod/a")).toBe(false);
  });

  test("a waiter that times out gets 409 Conflict and leaves the queue", async () => {
    const locks = new ContainerLocks();
    const held = await locks.acquire("pod/a", 1000, "container c of pod ns/a");
    const error = await locks.acquire("pod/a", 10, "container c of pod ns/a").catch((e) => e);
    expect(error).toMatchObject({ code: 409, reason: "Conflict", message: "another mount or unmount is still running for container c of pod ns/a; try again" });
    held();
    const next = await locks.acquire("pod/a", 10, "a");
    next();
    next(); // releasing twice is harmless
    expect(locks.busy("pod/a")).toBe(false);
  });
});
