// The oldest Deno this module runs on. Each entry point imports this file
// first, so that an older Deno stops at import with a message that says what
// to install, instead of failing later in a way that does not name the cause:
// a server whose idle or shutdown timeout never closes a connection.

/**
 * The oldest Deno release this module supports. Deno 2.9.0 is the first in
 * which closing a `Deno.Conn` cancels its pending read and sends the FIN
 * (denoland/deno#35292), which `idleTimeout` and `shutdownTimeout` rely on,
 * and the first whose `--allow-net` takes `unix:PATH` (denoland/deno#34395),
 * the permission Unix sockets need.
 */
export const MIN_DENO_VERSION = "2.9.0";

const VERSION = /^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/;

function parse(version: string): number[] | undefined {
  const match = VERSION.exec(version);
  return match?.slice(1).map(Number);
}

/**
 * Whether `version` comes before `minimum`, comparing major, minor and patch
 * as numbers; a pre-release or build suffix (`-rc.1`, `+1a2b3c4`) is ignored.
 * A version that does not read as `MAJOR.MINOR.PATCH` is never older: a check
 * that cannot tell must not stop a Deno that may well be new enough.
 *
 * @param version The version to check, such as `Deno.version.deno`.
 * @param minimum The oldest version that is good enough.
 * @returns `true` when `version` is older than `minimum`.
 */
export function isOlderThan(version: string, minimum: string): boolean {
  const have = parse(version);
  const need = parse(minimum);
  if (have === undefined || need === undefined) return false;
  for (let i = 0; i < need.length; i++) {
    if (have[i] !== need[i]) return have[i] < need[i];
  }
  return false;
}

/**
 * The message for a Deno older than `minimum`: the version needed, the one
 * running, and how to upgrade.
 *
 * @param running The running Deno's version.
 * @param minimum The oldest version that is good enough.
 * @returns One sentence that ends with the fix.
 */
export function versionMessage(
  running: string,
  minimum: string = MIN_DENO_VERSION,
): string {
  return `@sockets/net needs Deno ${minimum} or newer (this is Deno ${running}): upgrade with \`deno upgrade\` or \`npm install -g deno@2\``;
}

if (isOlderThan(Deno.version.deno, MIN_DENO_VERSION)) {
  throw new Error(versionMessage(Deno.version.deno));
}
