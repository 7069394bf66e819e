// What the native tests assert on: the errno error a call throws.
import { isNativeError, type NativeError } from "./index.ts";

/** The NativeError `call` throws; anything else thrown (or nothing) fails the test. */
export function caught(call: () => unknown): NativeError {
  try {
    call();
  } catch (error) {
    if (isNativeError(error)) return error;
    throw error;
  }
  throw new Error("expected the call to throw");
}
