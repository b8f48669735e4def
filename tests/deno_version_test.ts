import { assertEquals, assertRejects } from "@std/assert";
import {
  isOlderThan,
  MIN_DENO_VERSION,
  versionMessage,
} from "../_deno_version.ts";

Deno.test("isOlderThan() compares major, minor and patch as numbers", () => {
  assertEquals(isOlderThan("2.8.3", "2.9.0"), true);
  assertEquals(isOlderThan("2.1.14", "2.9.0"), true);
  assertEquals(isOlderThan("1.46.3", "2.9.0"), true);
  assertEquals(isOlderThan("2.9.0", "2.10.0"), true);
  assertEquals(isOlderThan("2.9.9", "2.9.10"), true);
  assertEquals(isOlderThan("2.9.0", "2.9.0"), false);
  assertEquals(isOlderThan("2.9.6", "2.9.0"), false);
  assertEquals(isOlderThan("2.10.0", "2.9.0"), false);
  assertEquals(isOlderThan("3.0.0", "2.9.0"), false);
});

Deno.test("isOlderThan() ignores pre-release and build suffixes", () => {
  assertEquals(isOlderThan("2.9.0-rc.1", "2.9.0"), false);
  assertEquals(isOlderThan("2.9.6+1a2b3c4", "2.9.0"), false);
  assertEquals(isOlderThan("2.8.3+1a2b3c4", "2.9.0"), true);
});

Deno.test("isOlderThan() never calls a version it cannot read older", () => {
  assertEquals(isOlderThan("", "2.9.0"), false);
  assertEquals(isOlderThan("2.9", "2.9.0"), false);
  assertEquals(isOlderThan("canary", "2.9.0"), false);
  assertEquals(isOlderThan("2.8.3", "latest"), false);
});

Deno.test("isOlderThan() finds the running Deno new enough", () => {
  assertEquals(isOlderThan(Deno.version.deno, MIN_DENO_VERSION), false);
});

Deno.test("versionMessage() names the version needed, the running one and the fix", () => {
  assertEquals(
    versionMessage("2.1.4", "2.9.0"),
    "@sockets/net needs Deno 2.9.0 or newer (this is Deno 2.1.4): upgrade with `deno upgrade` or `npm install -g deno@2`",
  );
  assertEquals(
    versionMessage("2.8.3"),
    `@sockets/net needs Deno ${MIN_DENO_VERSION} or newer (this is Deno 2.8.3): upgrade with \`deno upgrade\` or \`npm install -g deno@2\``,
  );
});

Deno.test("importing the module on an older Deno throws the version message", async () => {
  const real = Object.getOwnPropertyDescriptor(Deno, "version")!;
  Object.defineProperty(Deno, "version", {
    ...real,
    value: { ...Deno.version, deno: "2.8.3" },
  });
  try {
    // A fresh URL evaluates the file again, now under the older version.
    const fresh = new URL("../_deno_version.ts?deno=2.8.3", import.meta.url);
    await assertRejects(
      () => import(fresh.href),
      Error,
      versionMessage("2.8.3"),
    );
  } finally {
    Object.defineProperty(Deno, "version", real);
  }
});

Deno.test("importing the module on the running Deno succeeds", async () => {
  const fresh = new URL("../_deno_version.ts?deno=running", import.meta.url);
  const module = await import(fresh.href);
  assertEquals(module.MIN_DENO_VERSION, MIN_DENO_VERSION);
});
