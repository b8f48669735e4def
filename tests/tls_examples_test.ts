import { assertEquals, assertStringIncludes } from "@std/assert";
import {
  assertFlagsNeeded,
  headerFlagsIn,
  runExample,
  startExample,
} from "./_examples.ts";
import {
  closedPort,
  isMissing,
  makeCertificates,
  startTlsLineServer,
  tempDir,
} from "./_helpers.ts";

const opensslMissing = await isMissing("openssl");
const pythonMissing = await isMissing("python3");

/** The example's certificate flags, for the certificates made in `dir`. */
function certificateArgs(dir: string): string[] {
  return ["--cert-file", `${dir}/cert.pem`, "--key-file", `${dir}/key.pem`];
}

Deno.test({
  name:
    "examples/tls_echo_server.ts echoes to examples/tls_echo_client.ts and to openssl s_client",
  ignore: opensslMissing,
  fn: async () => {
    await using dir = await tempDir("sockets-net-tls-examples-");
    await makeCertificates(dir.path);
    const serverArgs = [
      "--port",
      "0",
      "--alpn",
      "echo/1",
      ...certificateArgs(dir.path),
    ];
    await using server = await startExample("tls_echo_server.ts", serverArgs, {
      flags: headerFlagsIn("tls_echo_server.ts", dir.path),
    });
    const text = "hello\nworld\n".repeat(1000);
    const client = await runExample("tls_echo_client.ts", [
      "--port",
      String(server.port),
      "--ca-file",
      `${dir.path}/ca.pem`,
      "--server-name",
      "localhost",
      "--alpn",
      "echo/1",
    ], { stdin: text, flags: headerFlagsIn("tls_echo_client.ts", dir.path) });
    assertEquals(client.code, 0, client.stderr);
    assertEquals(client.stdout, text);
    assertStringIncludes(client.stderr, "ALPN: echo/1");

    const { code, stdout, stderr } = await new Deno.Command("openssl", {
      args: [
        "s_client",
        "-connect",
        `127.0.0.1:${server.port}`,
        "-CAfile",
        `${dir.path}/ca.pem`,
        "-verify_return_error",
        "-quiet",
        "-no_ign_eof",
        "-verify_ip",
        "127.0.0.1",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    // s_client with no input verifies the chain, then closes at the end of
    // its input: what counts is the verified handshake (exit 0).
    assertEquals(code, 0, new TextDecoder().decode(stderr));
    assertEquals(new TextDecoder().decode(stdout), "");

    const stopped = await server.stop("SIGTERM");
    assertEquals(stopped.code, 0, stopped.stderr);
  },
});

Deno.test({
  name:
    "examples/tls_echo_server.ts and tls_echo_client.ts ask for exactly the flags they need",
  ignore: opensslMissing,
  fn: async () => {
    await using dir = await tempDir("sockets-net-tls-examples-");
    await makeCertificates(dir.path);
    await assertFlagsNeeded("tls_echo_server.ts", [
      "--port",
      String(closedPort()),
      ...certificateArgs(dir.path),
    ], { flags: headerFlagsIn("tls_echo_server.ts", dir.path) });
    await assertFlagsNeeded("tls_echo_client.ts", [
      "--port",
      String(closedPort()),
      "--ca-file",
      `${dir.path}/ca.pem`,
    ], { flags: headerFlagsIn("tls_echo_client.ts", dir.path), stdin: "" });
  },
});

Deno.test({
  name:
    "examples/starttls_client.ts upgrades a plain line-protocol connection and talks TLS",
  ignore: opensslMissing || pythonMissing,
  fn: async () => {
    await using dir = await tempDir("sockets-net-tls-examples-");
    const { certFile, keyFile, caFile } = await makeCertificates(dir.path);
    await using server = await startTlsLineServer(certFile, keyFile);
    const { code, stdout, stderr } = await runExample("starttls_client.ts", [
      "--port",
      String(server.port),
      "--ca-file",
      caFile,
      "--server-name",
      "localhost",
    ], {
      stdin: "hello over tls\n",
      flags: headerFlagsIn("starttls_client.ts", dir.path),
    });
    assertEquals(code, 0, stderr);
    assertEquals(stdout, "HELLO OVER TLS\n");
    assertStringIncludes(stderr, "220 ready");
    assertStringIncludes(stderr, "TLS started");
    await assertFlagsNeeded("starttls_client.ts", [
      "--port",
      String(closedPort()),
      "--ca-file",
      caFile,
    ], { flags: headerFlagsIn("starttls_client.ts", dir.path), stdin: "" });
  },
});
