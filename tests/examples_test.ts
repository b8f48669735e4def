import {
  assert,
  assertEquals,
  assertNotEquals,
  assertStringIncludes,
} from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlags,
  headerFlagsIn,
  importMapFlags,
  runExample,
  startExample,
} from "./_examples.ts";
import { exists, tempDir } from "./_helpers.ts";

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

/** The rows of the README's table of styles: command, arguments and permissions. */
function readmeRows(): {
  example: string;
  args: string[];
  permissions: string[];
}[] {
  const readme = Deno.readTextFileSync(
    new URL("../README.md", import.meta.url),
  );
  return [
    ...readme.matchAll(
      /^\| [^|]+ \| `examples\/(\S+?\.ts)([^`]*)` +\| `([^`]*)` +\|/gm,
    ),
  ]
    .map(([, example, args, permissions]) => ({
      example,
      args: args.trim() === "" ? [] : args.trim().split(/\s+/),
      permissions: permissions.split(" "),
    }));
}

Deno.test("the README's table lists every example with its header's permissions", () => {
  const rows = readmeRows();
  for (const { example, args, permissions } of rows) {
    assertEquals(
      permissions,
      headerFlags(example, args),
      `README row of ${example} ${args.join(" ")}`,
    );
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

/**
 * Every server example that `startExample()` can start, with the arguments
 * that give it a free port or a socket path under `dir`, and the socket
 * files it must remove.
 */
function serverExamples(
  dir: string,
): { name: string; args: string[]; files: string[] }[] {
  return [
    { name: "tcp_hello_server.ts", args: ["--port", "0"], files: [] },
    { name: "tcp_echo_server.ts", args: ["--port", "0"], files: [] },
    { name: "tcp_iterative_server.ts", args: ["--port", "0"], files: [] },
    { name: "tcp_prefork_server.ts", args: ["--port", "0"], files: [] },
    { name: "tcp_exec_server.ts", args: ["--port", "0"], files: [] },
    { name: "udp_echo_server.ts", args: ["--port", "0"], files: [] },
    {
      name: "udp_multicast.ts",
      args: ["receive", "--port", "0"],
      files: [],
    },
    {
      name: "unix_echo_server.ts",
      args: ["--path", `${dir}/echo.sock`],
      files: [`${dir}/echo.sock`, `${dir}/.echo.sock`],
    },
    {
      name: "unix_exec_server.ts",
      args: ["--path", `${dir}/exec.sock`],
      files: [`${dir}/exec.sock`, `${dir}/.exec.sock`],
    },
    {
      name: "unix_datagram_server.ts",
      args: ["--path", `${dir}/datagram.sock`],
      files: [`${dir}/datagram.sock`],
    },
  ];
}

Deno.test("every server example stops on SIGTERM as on Ctrl-C, removing its socket files", async () => {
  await using dir = await tempDir("examples_sigterm_");
  for (const { name, args, files } of serverExamples(dir.path)) {
    const server = await startExample(name, args, {
      flags: headerFlagsIn(name, dir.path),
    });
    for (const file of files.slice(0, 1)) {
      assert(await exists(file), `examples/${name} made no ${file}`);
    }
    const { code, stderr } = await server.stop("SIGTERM");
    assertEquals(
      code,
      0,
      `examples/${name} on SIGTERM: exit ${code}\n${stderr}`,
    );
    for (const file of files) {
      assert(!(await exists(file)), `examples/${name} left ${file} on SIGTERM`);
    }
  }
});

Deno.test("examples/netcat.ts --listen stops on SIGTERM as on Ctrl-C", async () => {
  for (const args of [["--listen"], ["--listen", "--udp"]]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        ...importMapFlags(),
        ...headerFlags("netcat.ts"),
        ...(args.includes("--udp") ? ["--unstable-net"] : []),
        "examples/netcat.ts",
        "--verbose",
        ...args,
        "127.0.0.1",
        "0",
      ],
      cwd: new URL("../", import.meta.url),
      env: { NO_COLOR: "1" },
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let stderr = "";
    while (!stderr.includes("listening on")) {
      const { value, done } = await lines.read();
      if (done) break;
      stderr += value;
    }
    assertStringIncludes(stderr, "netcat: listening on 127.0.0.1:");
    child.kill("SIGTERM");
    const { code } = await child.status;
    for (;;) {
      const { value, done } = await lines.read();
      if (done) break;
      stderr += value;
    }
    await child.stdin.close();
    assertEquals(code, 0, `netcat ${args.join(" ")} on SIGTERM:\n${stderr}`);
  }
});

Deno.test("the datagram client examples exit non-zero when no answer comes", async () => {
  await using dir = await tempDir("examples_silent_");
  // Sockets that are bound but never answer.
  const silent = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const path = `${dir.path}/datagram.sock`;
  const unixSilent = Deno.listenDatagram({ transport: "unixpacket", path });
  try {
    const port = String((silent.addr as Deno.NetAddr).port);
    for (
      const [name, args] of [
        ["udp_client.ts", ["--port", port, "--timeout", "200", "hello"]],
        ["udp_connected_client.ts", ["--port", port, "--timeout", "50"]],
        ["udp_sendto_client.ts", ["--port", port, "--timeout", "50"]],
        ["unix_datagram_client.ts", [
          "--path",
          path,
          "--local-path",
          `${dir.path}/client.sock`,
          "--timeout",
          "50",
        ]],
      ] as const
    ) {
      const { code, stderr } = await runExample(name, [...args], {
        stdin: "hello\n",
        flags: headerFlagsIn(name, dir.path),
      });
      assertNotEquals(code, 0, `examples/${name} exited 0 without an answer`);
      assertStringIncludes(stderr, "no answer", `examples/${name}`);
    }
  } finally {
    silent.close();
    unixSilent.close();
  }
});
