// The main job, shown on real containers: a loop device appears inside a
// running runc container (cgroup v1, then v2), its bytes are read from inside,
// and detach takes it away again. Uses the compiled binary from "/".
import { cleanupAll } from "../test/support/cleanup.ts";
import { createLoopDevice } from "../test/support/loop.ts";
import { startContainer, type CgroupMode } from "../test/support/runc.ts";

const binary = `${import.meta.dir}/../dist/device-mounter`;
const message = "hello from a hot-mounted loop device\n";

async function sh(args: string[], cwd = "/") {
  const p = Bun.spawn(args, { cwd, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { out: out + err, code };
}

let failed = false;
try {
  const loop = await createLoopDevice({ pattern: new TextEncoder().encode(message) });
  for (const mode of ["v1", "v2"] as CgroupMode[]) {
    const c = await startContainer({ mode });
    console.log(`\n== cgroup ${mode}: runc container ${c.id} (host pid ${c.pid}), device ${loop.path}`);
    const show = async (label: string) => {
      const r = await c.execText(["head", "-c", String(message.length), "/dev/demo"]);
      console.log(`${label}: ${r.code === 0 ? JSON.stringify(r.stdout) : r.stderr.trim()}`);
      return r;
    };
    await show("inside, before attach");
    const attach = await sh([binary, "attach", "--pid", String(c.pid), `${loop.path}:rw:/dev/demo`]);
    console.log(`$ device-mounter attach --pid ${c.pid} ${loop.path}:rw:/dev/demo\n${attach.out.trim()}`);
    const read = await show("inside, after attach");
    if (read.stdout !== message) failed = true;
    console.log((await sh([binary, "list", "--pid", String(c.pid)])).out.trim());
    const detach = await sh([binary, "detach", "--pid", String(c.pid), "/dev/demo"]);
    console.log(`$ device-mounter detach --pid ${c.pid} /dev/demo\n${detach.out.trim()}`);
    if ((await show("inside, after detach")).code === 0) failed = true;
    await c.stop();
  }
} finally {
  await cleanupAll();
}
console.log(failed ? "\ndemo: FAILED" : "\ndemo: ok");
process.exit(failed ? 1 : 0);
