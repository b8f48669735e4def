// The README is also the package's page on jsr.io: its code blocks run as
// documentation tests (`deno test --doc`), and its links must reach files
// that are published.

import { assert, assertEquals } from "@std/assert";

const root = new URL("../", import.meta.url);
const readme = await Deno.readTextFile(new URL("README.md", root));
const config = JSON.parse(
  await Deno.readTextFile(new URL("deno.json", root)),
) as { exports: Record<string, string>; publish: { exclude: string[] } };

/** Whether `path` is left out of the package by a `publish.exclude` pattern. */
function excluded(path: string): boolean {
  return config.publish.exclude.some((pattern) => {
    if (pattern.endsWith("/")) return path.startsWith(pattern);
    const glob = new RegExp(
      `^${
        pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")
      }$`,
    );
    return glob.test(path);
  });
}

Deno.test("README links only to files that are published", async () => {
  const links = [...readme.matchAll(/\]\(([^)#\s]+)\)/g)]
    .map(([, target]) => target)
    .filter((target) => !/^[a-z]+:/.test(target));
  assert(links.length > 0, "the README has relative links to check");
  for (const link of links) {
    const info = await Deno.stat(new URL(link, root));
    assert(info.isFile, `${link} is a file`);
    assertEquals(excluded(link), false, `${link} is published`);
  }
});

Deno.test("README lists every entry point of deno.json", () => {
  for (const entry of Object.keys(config.exports)) {
    const name = entry === "."
      ? "@sockets/net"
      : `@sockets/net/${entry.slice(2)}`;
    assert(readme.includes(`\`${name}\``), `the README lists ${name}`);
  }
});

Deno.test("README runs its TypeScript blocks as written (none is ignored)", () => {
  const ignored = readme.match(/^```(ts|typescript) ignore/gm) ?? [];
  assertEquals(ignored, []);
});
