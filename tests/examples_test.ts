import { assertEquals, assertStringIncludes } from "@std/assert";
import { assertFlagsNeeded, headerFlags, runExample } from "./_examples.ts";

const examples = [...Deno.readDirSync(new URL("../examples/", import.meta.url))]
  .filter(({ isFile, name }) => isFile && name.endsWith(".ts"))
  .map(({ name }) => name)
  .sort();

/**
 * Examples that need `--allow-net` without a list, and why: Deno 2.9 grants
 * `unix:` paths one by one, exactly.
 */
const UNSCOPED_NET: Record<string, string> = {
  "unix_datagram_server.ts":
    "answers each client at its own path, which it cannot know in advance",
};

Deno.test("every example documents its exact deno run line", () => {
  for (const name of examples) {
    const flags = headerFlags(name);
    for (const flag of flags) {
      if (flag === "-A" || flag.startsWith("--allow-all")) {
        throw new Error(`examples/${name} asks for every permission: ${flag}`);
      }
      if (flag === "--allow-net" && name in UNSCOPED_NET) continue;
      if (/^--allow-(net|read|write|run|env)$/.test(flag)) {
        throw new Error(
          `examples/${name} asks for ${flag} without a scope; name the hosts or paths`,
        );
      }
    }
  }
});

for (const name of examples) {
  Deno.test(`examples/${name} --help prints its usage`, async () => {
    const { code, stdout, stderr } = await runExample(name, ["--help"]);
    assertEquals(code, 0, stderr);
    assertStringIncludes(stdout, "Usage:");
  });
}

Deno.test("examples/demo.ts runs the whole tour under its header flags", async () => {
  const { code, stdout, stderr } = await runExample("demo.ts");
  assertEquals(code, 0, stderr);
  assertStringIncludes(stdout, "Hello World");
  assertStringIncludes(stdout, "done");
  await assertFlagsNeeded("demo.ts");
});

/** The rows of the README's table of styles: command and permissions. */
function readmeRows(): { example: string; permissions: string[] }[] {
  const readme = Deno.readTextFileSync(
    new URL("../README.md", import.meta.url),
  );
  return [
    ...readme.matchAll(
      /^\| [^|]+ \| `examples\/(\S+?\.ts)[^`]*` +\| `([^`]*)` +\|/gm,
    ),
  ]
    .map(([, example, permissions]) => ({
      example,
      permissions: permissions.split(" "),
    }));
}

Deno.test("the README's table lists every example with its header's permissions", () => {
  const rows = readmeRows();
  for (const { example, permissions } of rows) {
    assertEquals(permissions, headerFlags(example), `README row of ${example}`);
  }
  const listed = new Set(rows.map(({ example }) => example));
  const missing = examples.filter((name) =>
    name !== "demo.ts" && !listed.has(name)
  );
  assertEquals(missing, [], "examples without a row in the README's table");
});

Deno.test("deno task demo runs examples/demo.ts with its header's permissions", () => {
  const config = JSON.parse(
    Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
  );
  const words = config.tasks.demo.split(" ");
  const flags = words.slice(words.indexOf("run", 3) + 1, -1);
  assertEquals(words.at(-1), "examples/demo.ts");
  assertEquals(flags, headerFlags("demo.ts"));
});
