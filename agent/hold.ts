// `device-mounter hold`: what a slave pod runs. It only has to keep its pod
// (and so the device allocation) alive, and end at once when asked to.
export async function holdCommand(): Promise<void> {
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) process.once(signal, () => resolve());
    setInterval(() => {}, 1 << 30);
  });
  process.exit(0);
}
