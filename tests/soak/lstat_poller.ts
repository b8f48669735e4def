/**
 * Watches a path from a separate process while a server starts there:
 * `lstat` in a tight loop, recording the mode of every socket seen at the
 * path, so that a socket briefly reachable with a wider mode is caught.
 *
 * Usage: `deno run --allow-read=PATH tests/soak/lstat_poller.ts PATH SEEN_POLLS DEADLINE_MS`
 *
 * Prints `ready`, polls until the socket has been seen `SEEN_POLLS` times
 * (or `DEADLINE_MS` passed), then prints one line of JSON:
 * `{ polls, seen, modes: { "600": count, ... } }`.
 *
 * @module
 */

const [path, seenPolls, deadlineMs] = Deno.args;
const deadline = performance.now() + Number(deadlineMs);
const modes: Record<string, number> = {};
let polls = 0;
let seen = 0;
console.log("ready");
while (seen < Number(seenPolls) && performance.now() < deadline) {
  polls++;
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    continue;
  }
  if (!info.isSocket) continue;
  seen++;
  const mode = (info.mode! & 0o777).toString(8);
  modes[mode] = (modes[mode] ?? 0) + 1;
}
console.log(JSON.stringify({ polls, seen, modes }));
