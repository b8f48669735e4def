import { assertEquals, assertStringIncludes } from "@std/assert";
import { assertFlagsNeeded, headerFlags, runExample } from "./_examples.ts";
import { libcPath } from "../_libc.ts";

Deno.test("examples/socketpair.ts header asks for FFI and for reading its own module graph (the Worker)", () => {
  assertEquals(headerFlags("socketpair.ts"), [
    "--allow-ffi",
    "--allow-read=.",
  ]);
});

Deno.test("examples/socketpair.ts: a Worker child answers the parent over a socket pair", async () => {
  const result = await runExample("socketpair.ts", [], {
    stdin: "hello\nchild\n",
  });
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout, "HELLO\nCHILD\n");
  assertStringIncludes(
    result.stderr,
    `talking to a child of process`,
  );
});

Deno.test("examples/socketpair.ts runs with FFI scoped to the C library's absolute path", async () => {
  const result = await runExample("socketpair.ts", [], {
    flags: [`--allow-ffi=${libcPath()}`, "--allow-read=."],
    stdin: "scoped\n",
  });
  assertEquals(result.code, 0, result.stderr);
  assertEquals(result.stdout, "SCOPED\n");
});

Deno.test("examples/socketpair.ts names each flag it misses, the library's path with --allow-ffi", async () => {
  await assertFlagsNeeded("socketpair.ts", [], { stdin: "x\n" });
  const result = await runExample("socketpair.ts", [], {
    flags: ["--allow-read=."],
    stdin: "x\n",
  });
  assertStringIncludes(result.stderr, `--allow-ffi=${libcPath()}`);
});
