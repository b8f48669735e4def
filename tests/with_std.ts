/**
 * Runs a `deno` subcommand with `@std/assert` and `@std/cli` from JSR when JSR
 * answers, and with the offline stand-ins in `tests/std/` when it does not.
 *
 * Usage: `deno run -A tests/with_std.ts <subcommand> [args...]`
 *
 * The stand-ins exist only so that the tests, the examples and the checks also
 * run on machines that cannot reach jsr.io; users always get the real packages.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const probe = new URL("./std_probe.ts", import.meta.url);
const offlineImportMap = new URL("import_map.offline.json", root);

/** A cached or reachable JSR answers well within this; an unreachable one fails at once. */
const PROBE_TIMEOUT_MS = 15_000;

async function jsrIsReachable(): Promise<boolean> {
  const probeCommand = new Deno.Command(Deno.execPath(), {
    args: ["cache", "--quiet", probe.pathname],
    stdout: "null",
    stderr: "null",
    signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
  });
  try {
    return (await probeCommand.output()).success;
  } catch {
    return false;
  }
}

const [subcommand, ...rest] = Deno.args;
if (subcommand === undefined) {
  console.error("usage: deno run -A tests/with_std.ts <subcommand> [args...]");
  Deno.exit(2);
}

const args = [subcommand];
if (!(await jsrIsReachable())) {
  console.error(
    "jsr.io is unreachable: using the offline @std stand-ins (tests/std/)",
  );
  args.push(`--import-map=${offlineImportMap.pathname}`);
}
args.push(...rest);

const child = new Deno.Command(Deno.execPath(), { args, cwd: root }).spawn();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => child.kill(signal));
}
Deno.exit((await child.status).code);
