// What a test asserts on when a call must fail: the error it throws, of the
// expected class. Anything else thrown, or nothing, fails the test.

/** The `type` error that `fn` throws (synchronously). */
export function thrownBy<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected a ${type.name}`);
}

/** The `type` error that `fn` throws or rejects with. */
export async function rejectedWith<E extends Error>(type: abstract new (...args: never[]) => E, fn: () => unknown): Promise<E> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected a ${type.name}`);
}
