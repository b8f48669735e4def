import { assertEquals, assertThrows } from "@std/assert";
import { activatedListeners } from "../activation.ts";
import { tempDir } from "./_helpers.ts";

const VARIABLES = ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"];

/** Sets the variables for one call, and checks the call unset them all. */
function withVariables(values: Record<string, string>, call: () => void) {
  for (const [name, value] of Object.entries(values)) Deno.env.set(name, value);
  try {
    call();
  } finally {
    for (const name of VARIABLES) {
      assertEquals(Deno.env.get(name), undefined, `${name} was not unset`);
    }
  }
}

Deno.test("activatedListeners() without LISTEN_FDS says how the program must be started", () => {
  withVariables({}, () => {
    assertThrows(
      () => activatedListeners(),
      Deno.errors.NotFound,
      "LISTEN_FDS is not set, so no sockets were passed to this process; start the program from a systemd .socket unit, or with systemd-socket-activate",
    );
  });
});

Deno.test("activatedListeners() refuses sockets meant for another process, and unsets the variables", () => {
  withVariables(
    { LISTEN_FDS: "1", LISTEN_PID: "1", LISTEN_FDNAMES: "web" },
    () => {
      assertThrows(
        () => activatedListeners(),
        Deno.errors.NotFound,
        `LISTEN_PID=1 names another process, not this one (${Deno.pid})`,
      );
    },
  );
});

Deno.test("activatedListeners() refuses malformed variables", () => {
  const pid = String(Deno.pid);
  withVariables({ LISTEN_FDS: "two", LISTEN_PID: pid }, () => {
    assertThrows(() => activatedListeners(), TypeError, 'got "two"');
  });
  withVariables({ LISTEN_FDS: "99999999999", LISTEN_PID: pid }, () => {
    assertThrows(() => activatedListeners(), TypeError, 'got "99999999999"');
  });
  withVariables(
    { LISTEN_FDS: "1", LISTEN_PID: pid, LISTEN_FDNAMES: "a:b" },
    () => {
      assertThrows(
        () => activatedListeners(),
        TypeError,
        'LISTEN_FDNAMES names 2 sockets ("a:b") but LISTEN_FDS passes 1',
      );
    },
  );
});

Deno.test("activatedListeners() with no sockets passed returns none", () => {
  withVariables({ LISTEN_FDS: "0", LISTEN_PID: String(Deno.pid) }, () => {
    assertEquals(activatedListeners(), []);
  });
});

Deno.test("activatedListeners() without LISTEN_PID adopts nothing, as sd_listen_fds() returns none", async () => {
  // In a child of its own: were descriptor 3 adopted, it would be one this
  // test's process needs.
  await using dir = await tempDir("activation-no-pid-");
  const activation = new URL("../activation.ts", import.meta.url).href;
  await Deno.writeTextFile(
    dir.file("main.ts"),
    `import { activatedListeners } from ${JSON.stringify(activation)};
try {
  const listeners = activatedListeners();
  console.log(\`adopted \${listeners.length}\`);
} catch (error) {
  console.log(\`\${error.name}: \${error.message}\`);
}
console.log(\`LISTEN_FDS \${Deno.env.get("LISTEN_FDS") ?? "unset"}\`);
Deno.exit(0);
`,
  );
  const env: Record<string, string> = { NO_COLOR: "1", LISTEN_FDS: "1" };
  for (const name of ["HOME", "PATH", "DENO_DIR"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-config",
      "--allow-env=LISTEN_FDS,LISTEN_PID,LISTEN_FDNAMES",
      dir.file("main.ts"),
    ],
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const text = decoder.decode(stdout) + decoder.decode(stderr);
  assertEquals(code, 0, text);
  assertEquals(
    decoder.decode(stdout).split("\n").slice(0, 2),
    [
      "NotFound: activatedListeners: LISTEN_FDS is set but LISTEN_PID is not, so the sockets are not known to be for this process; start the program from a systemd .socket unit, or with systemd-socket-activate -l 127.0.0.1:PORT deno run ...",
      "LISTEN_FDS unset",
    ],
    text,
  );
});
