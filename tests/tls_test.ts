import {
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { connectTcp } from "../tcp.ts";
import { connectTls, serveTls, startTls } from "../tls.ts";
import {
  isMissing,
  makeCertificates,
  readAll,
  startTlsLineServer,
  tempDir,
  type TestCertificates,
  within,
} from "./_helpers.ts";

const opensslMissing = await isMissing("openssl");
const curlMissing = await isMissing("curl");
const pythonMissing = await isMissing("python3");

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs `test` with fresh certificates in a temp dir. */
async function withCertificates(
  test: (certs: TestCertificates, dir: string) => Promise<void>,
): Promise<void> {
  await using dir = await tempDir("sockets-net-tls-");
  await test(await makeCertificates(dir.path), dir.path);
}

/** Writes `text`, then returns what the peer sends until it closes. */
async function exchange(conn: Deno.Conn, text: string): Promise<string> {
  await conn.write(encoder.encode(text));
  await conn.closeWrite();
  return await readAll(conn);
}

const echo = async (conn: Deno.Conn) => {
  const buffer = new Uint8Array(4096);
  for (let n; (n = await conn.read(buffer)) !== null;) {
    await conn.write(buffer.subarray(0, n));
  }
};

Deno.test({
  name: "serveTls() and connectTls() echo with a private CA and agree on ALPN",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ ca, cert, key }) => {
      const chosen: (string | null)[] = [];
      await using server = serveTls({
        hostname: "127.0.0.1",
        port: 0,
        cert,
        key,
        alpnProtocols: ["echo/1", "http/1.1"],
      }, async (conn) => {
        chosen.push((await conn.handshake()).alpnProtocol);
        await echo(conn);
      });
      using conn = await connectTls({
        hostname: "localhost",
        port: server.addr.port,
        caCerts: [ca],
        alpnProtocols: ["echo/1"],
        timeout: 10_000,
      });
      assertEquals((await conn.handshake()).alpnProtocol, "echo/1");
      assertEquals(await exchange(conn, "ping over tls"), "ping over tls");
      assertEquals(chosen, ["echo/1"]);
    }),
});

Deno.test({
  name: "serveTls() reads certFile and keyFile",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ ca, certFile, keyFile }) => {
      await using server = serveTls(
        { hostname: "127.0.0.1", port: 0, certFile, keyFile },
        echo,
      );
      using conn = await connectTls({
        hostname: "127.0.0.1",
        port: server.addr.port,
        caCerts: [ca],
      });
      assertEquals(await exchange(conn, "files"), "files");
    }),
});

Deno.test({
  name: "serveTls() answers openssl s_client, which verifies the chain",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ cert, key, caFile }) => {
      await using server = serveTls(
        { hostname: "127.0.0.1", port: 0, cert, key },
        async (conn) => {
          await conn.write(encoder.encode("hello from serveTls\n"));
        },
      );
      const { code, stdout, stderr } = await new Deno.Command("openssl", {
        args: [
          "s_client",
          "-connect",
          `127.0.0.1:${server.addr.port}`,
          "-servername",
          "localhost",
          "-verify_hostname",
          "localhost",
          "-CAfile",
          caFile,
          "-verify_return_error",
          "-quiet",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(code, 0, decoder.decode(stderr));
      assertStringIncludes(decoder.decode(stdout), "hello from serveTls");
    }),
});

Deno.test({
  name: "serveTls() serves curl --cacert a tiny HTTP response",
  ignore: opensslMissing || curlMissing,
  fn: () =>
    withCertificates(async ({ cert, key, caFile }) => {
      await using server = serveTls(
        { hostname: "127.0.0.1", port: 0, cert, key, lingerTimeout: 1_000 },
        async (conn) => {
          // Read the request head, bounded, then answer and close.
          let head = "";
          const buffer = new Uint8Array(4096);
          while (!head.includes("\r\n\r\n") && head.length < 65_536) {
            const n = await conn.read(buffer);
            if (n === null) return;
            head += decoder.decode(buffer.subarray(0, n));
          }
          await conn.write(encoder.encode(
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n",
          ));
        },
      );
      const { code, stdout, stderr } = await new Deno.Command("curl", {
        args: [
          "--silent",
          "--show-error",
          "--max-time",
          "10",
          "--cacert",
          caFile,
          `https://localhost:${server.addr.port}/`,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(code, 0, decoder.decode(stderr));
      assertEquals(decoder.decode(stdout), "hello\n");
    }),
});

Deno.test({
  name: "connectTls() says to pass the CA in caCerts for an unknown authority",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ cert, key }) => {
      const errors: unknown[] = [];
      await using server = serveTls({
        hostname: "127.0.0.1",
        port: 0,
        cert,
        key,
        onError: (error) => errors.push(error),
      }, echo);
      const error = await assertRejects(
        () => connectTls({ hostname: "localhost", port: server.addr.port }),
        Deno.errors.InvalidData,
      );
      assertStringIncludes(
        error.message,
        `connect tls localhost:${server.addr.port}: certificate signed by an unknown authority; pass its CA in caCerts`,
      );
      assertInstanceOf(error.cause, Deno.errors.InvalidData);
    }),
});

Deno.test({
  name:
    "connectTls() says to check serverName for a certificate of another name",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ ca, cert, key }) => {
      await using server = serveTls({
        hostname: "127.0.0.1",
        port: 0,
        cert,
        key,
        onError: () => {},
      }, echo);
      const error = await assertRejects(
        () =>
          connectTls({
            hostname: "127.0.0.1",
            port: server.addr.port,
            caCerts: [ca],
            serverName: "db.example.com",
          }),
        Deno.errors.InvalidData,
      );
      assertStringIncludes(
        error.message,
        "certificate is not valid for db.example.com",
      );
      assertStringIncludes(error.message, "check serverName");
      assertInstanceOf(error.cause, Deno.errors.InvalidData);
    }),
});

Deno.test({
  name:
    "serveTls() frees the slot of a client that never completes the handshake, without running the handler",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ ca, cert, key }) => {
      const errors: unknown[] = [];
      let handled = 0;
      await using server = serveTls({
        hostname: "127.0.0.1",
        port: 0,
        cert,
        key,
        maxConnections: 1,
        handshakeTimeout: 100,
        onError: (error) => errors.push(error),
      }, async (conn) => {
        handled++;
        await echo(conn);
      });
      using silent = await Deno.connect({
        hostname: "127.0.0.1",
        port: server.addr.port,
      });
      // The silent client holds the only slot until its deadline: only
      // then is the next client accepted and served.
      using conn = await within(
        connectTls({
          hostname: "localhost",
          port: server.addr.port,
          caCerts: [ca],
        }),
        "a second client, served once the silent one's slot is free",
      );
      assertEquals(await exchange(conn, "next"), "next");
      assertEquals(handled, 1);
      // A deadline the server enforced is nobody's error, as an idle one.
      assertEquals(errors, []);
      silent.close();
    }),
});

Deno.test({
  name: "serveTls() takes every option of serve() and rejects an unknown one",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ ca, cert, key }) => {
      const controller = new AbortController();
      const listened: Deno.Addr[] = [];
      const server = serveTls({
        hostname: "127.0.0.1",
        port: "sockets-net-no-such-service",
        defaultPort: 0,
        transport: "tcp",
        cert,
        key,
        signal: controller.signal,
        shutdownTimeout: 1_000,
        onError: () => {},
        onListen: (addr) => listened.push(addr),
        maxConnections: 1,
        idleTimeout: 10_000,
        connectionTimeout: 10_000,
        lingerTimeout: 0,
        handshakeTimeout: 10_000,
        alpnProtocols: ["x"],
      }, echo);
      assertEquals(listened, [server.addr]);
      {
        using conn = await connectTls({
          hostname: "localhost",
          port: server.addr.port,
          caCerts: [ca],
        });
        assertEquals(await exchange(conn, "all options"), "all options");
      }
      controller.abort();
      await server.finished;

      const error = assertThrows(
        () =>
          serveTls(
            { port: 0, cert, key, handshakeTimout: 5 } as never,
            echo,
          ),
        TypeError,
      );
      assertStringIncludes(
        error.message,
        "did you mean options.handshakeTimeout",
      );
      assertThrows(
        () =>
          serveTls(
            { port: 0, cert, key, proxy: { trusted: ["127.0.0.1"] } } as never,
            echo,
          ),
        TypeError,
        "a PROXY header comes before the TLS handshake",
      );
      assertThrows(
        () => serveTls({ port: 0, cert } as never, echo),
        TypeError,
        "give options.key (PEM text) or options.keyFile (a path), got neither",
      );
      assertThrows(
        () => serveTls({ port: 0, cert, key, handshakeTimeout: 0 }, echo),
        RangeError,
        "options.handshakeTimeout must be more than 0 ms",
      );
      assertThrows(
        () =>
          serveTls(
            { port: 0, cert: "not pem", key, hostname: "127.0.0.1" },
            echo,
          ),
        Deno.errors.InvalidData,
        "must hold the PEM certificate chain",
      );
    }),
});

Deno.test({
  name: "serveTls() names --allow-read=PATH when certFile may not be read",
  ignore: opensslMissing,
  fn: () =>
    withCertificates(async ({ certFile, keyFile }, dir) => {
      const script = `${dir}/serve.ts`;
      await Deno.writeTextFile(
        script,
        `import { serveTls } from ${
          JSON.stringify(new URL("../tls.ts", import.meta.url).href)
        };
try {
  serveTls({ port: 0, certFile: ${JSON.stringify(certFile)}, keyFile: ${
          JSON.stringify(keyFile)
        } }, () => {});
} catch (error) {
  console.log(error.constructor.name + ": " + error.message);
}
`,
      );
      const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", "--no-config", script],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = decoder.decode(stdout);
      assertStringIncludes(text, "NotCapable", decoder.decode(stderr));
      assertStringIncludes(text, `--allow-read=${certFile}`);
      assertStringIncludes(text, `read options.certFile ${certFile}`);
    }),
});

Deno.test({
  name: "startTls() upgrades a connection after a plain STARTTLS exchange",
  ignore: opensslMissing || pythonMissing,
  fn: () =>
    withCertificates(async ({ ca, certFile, keyFile }) => {
      await using server = await startTlsLineServer(certFile, keyFile);
      {
        const port = server.port;
        const plain = await connectTcp({ hostname: "127.0.0.1", port });
        const buffer = new Uint8Array(64);
        const greeting = await plain.read(buffer);
        assertEquals(
          decoder.decode(buffer.subarray(0, greeting ?? 0)),
          "220 ready\r\n",
        );
        await plain.write(encoder.encode("STARTTLS\n"));
        const reply = await plain.read(buffer);
        assertEquals(
          decoder.decode(buffer.subarray(0, reply ?? 0)),
          "220 go ahead\r\n",
        );
        using conn = await startTls(plain, {
          caCerts: [ca],
          serverName: "localhost",
          timeout: 10_000,
        });
        assertEquals(await exchange(conn, "secret\n"), "SECRET\n");
      }
    }),
});

Deno.test({
  name: "startTls() gives up at its timeout when the server never answers TLS",
  ignore: opensslMissing || pythonMissing,
  fn: () =>
    withCertificates(async ({ ca, certFile, keyFile }) => {
      await using server = await startTlsLineServer(certFile, keyFile, {
        stall: true,
      });
      {
        const port = server.port;
        const plain = await connectTcp({ hostname: "127.0.0.1", port });
        const buffer = new Uint8Array(64);
        await plain.read(buffer);
        await plain.write(encoder.encode("STARTTLS\n"));
        await plain.read(buffer);
        const error = await assertRejects(
          () => startTls(plain, { caCerts: [ca], timeout: 100 }),
          Deno.errors.TimedOut,
        );
        assertStringIncludes(error.message, "no TLS handshake within 100 ms");
      }
    }),
});

Deno.test("connectTls() and startTls() reject unknown and mistyped options", async () => {
  await assertRejects(
    () => connectTls({ port: 1, caCert: ["x"] } as never),
    TypeError,
    "did you mean options.caCerts",
  );
  await assertRejects(
    () => connectTls({ port: 1, alpnProtocols: "h2" } as never),
    TypeError,
    "options.alpnProtocols must be an array of non-empty strings",
  );
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using conn = await Deno.connect({ port: listener.addr.port });
  (await listener.accept()).close();
  await assertRejects(
    () => startTls(conn, { servername: "x" } as never),
    TypeError,
    "did you mean options.serverName",
  );
  await assertRejects(
    () => startTls("conn" as never),
    TypeError,
    "conn must be a Deno.TcpConn",
  );
});
