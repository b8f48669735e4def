/**
 * Runs `deno doc --lint` on each entry point of `deno.json` alone: linted
 * together, one entry's exports hide a type that another entry references
 * but does not export itself.
 *
 * Usage: `deno run --allow-read=. --allow-run tests/doc_lint_entry_points.ts`
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const config = JSON.parse(
  await Deno.readTextFile(new URL("deno.json", root)),
) as { exports: Record<string, string> };

let failed = 0;
for (const [name, path] of Object.entries(config.exports)) {
  const { success, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--lint", path],
    cwd: root,
    stdout: "null",
  }).output();
  if (!success) {
    failed++;
    console.error(`deno doc --lint ${path} (${name}) fails:`);
    console.error(new TextDecoder().decode(stderr));
  }
}
if (failed > 0) Deno.exit(1);
console.log(
  `deno doc --lint passes for each of the ${
    Object.keys(config.exports).length
  } entry points alone`,
);
