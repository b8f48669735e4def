import { assertEquals, assertStringIncludes, assertThrows } from "@std/assert";
import { lookupPort, resolvePort } from "../services.ts";
import { parseServices, WELL_KNOWN_SERVICES } from "../_services.ts";

const FIXTURE = `# Network services, Internet style
#
tcpmux    1/tcp                # TCP port service multiplexer
echo      7/tcp
echo      7/udp
discard   9/tcp    sink null
smtp      25/tcp   mail
domain    53/tcp               # Domain Name Server
domain    53/udp
ntp       123/udp
\t
http      80/tcp   www         # WorldWideWeb HTTP
http      8080/tcp             # a later duplicate loses
Kerberos  88/tcp   KRB5\r
amqp      5672/sctp
no-port
bad-port  99999/tcp
bad-field 25
bad-proto 25/
`;

Deno.test("parseServices() reads names, ports and protocols", () => {
  const table = parseServices(FIXTURE);
  assertEquals(table.get("tcp")?.get("echo"), 7);
  assertEquals(table.get("udp")?.get("echo"), 7);
  assertEquals(table.get("tcp")?.get("domain"), 53);
  assertEquals(table.get("udp")?.get("ntp"), 123);
  assertEquals(table.get("tcp")?.get("ntp"), undefined);
  assertEquals(table.get("sctp")?.get("amqp"), 5672);
});

Deno.test("parseServices() maps aliases to the port of their name", () => {
  const tcp = parseServices(FIXTURE).get("tcp");
  assertEquals(tcp?.get("sink"), 9);
  assertEquals(tcp?.get("null"), 9);
  assertEquals(tcp?.get("mail"), 25);
  assertEquals(tcp?.get("www"), 80);
});

Deno.test("parseServices() ignores comments, blank lines and malformed lines", () => {
  const tcp = parseServices(FIXTURE).get("tcp");
  assertEquals(tcp?.get("tcp"), undefined);
  assertEquals(tcp?.get("#"), undefined);
  assertEquals(tcp?.get("worldwideweb"), undefined);
  assertEquals(tcp?.get("no-port"), undefined);
  assertEquals(tcp?.get("bad-port"), undefined);
  assertEquals(tcp?.get("bad-field"), undefined);
  assertEquals(tcp?.get("bad-proto"), undefined);
  assertEquals(
    [...parseServices(FIXTURE).keys()].sort(),
    ["sctp", "tcp", "udp"],
  );
});

Deno.test("parseServices() keeps the first entry of a duplicated name", () => {
  assertEquals(parseServices(FIXTURE).get("tcp")?.get("http"), 80);
});

Deno.test("parseServices() keys names in lowercase and accepts CRLF lines", () => {
  const tcp = parseServices(FIXTURE).get("tcp");
  assertEquals(tcp?.get("kerberos"), 88);
  assertEquals(tcp?.get("krb5"), 88);
});

Deno.test("parseServices() returns an empty table for empty text", () => {
  assertEquals(parseServices("").size, 0);
  assertEquals(parseServices("# only a comment\n\n").size, 0);
});

Deno.test("the built-in table has the well-known services with their protocols", () => {
  const tcp = WELL_KNOWN_SERVICES.get("tcp");
  const udp = WELL_KNOWN_SERVICES.get("udp");
  assertEquals(tcp?.get("echo"), 7);
  assertEquals(udp?.get("echo"), 7);
  assertEquals(tcp?.get("ssh"), 22);
  assertEquals(tcp?.get("http"), 80);
  assertEquals(tcp?.get("https"), 443);
  assertEquals(tcp?.get("postgresql"), 5432);
  assertEquals(tcp?.get("postgres"), 5432);
  assertEquals(udp?.get("ntp"), 123);
  assertEquals(udp?.get("snmp"), 161);
  assertEquals(udp?.get("syslog"), 514);
  assertEquals(tcp?.get("syslog"), undefined);
  assertEquals(tcp?.get("ntp"), undefined);
});

Deno.test("lookupPort() finds services and aliases in /etc/services", () => {
  assertEquals(lookupPort("http"), 80);
  assertEquals(lookupPort("www"), 80);
  assertEquals(lookupPort("postgres"), 5432);
  assertEquals(lookupPort("domain", "udp"), 53);
  // In /etc/services but not in the built-in table.
  assertEquals(lookupPort("systat"), 11);
});

Deno.test("lookupPort() ignores the case of the name", () => {
  assertEquals(lookupPort("HTTP"), 80);
  assertEquals(lookupPort("Ssh"), 22);
});

Deno.test("lookupPort() looks in the protocol's column only", () => {
  assertEquals(lookupPort("ntp", "udp"), 123);
  assertEquals(lookupPort("ntp", "tcp"), undefined);
  assertEquals(lookupPort("ssh", "udp"), undefined);
});

Deno.test("lookupPort() returns undefined for an unknown name", () => {
  assertEquals(lookupPort("no-such-service"), undefined);
  assertEquals(lookupPort(""), undefined);
});

Deno.test({
  name: "lookupPort() falls back to the built-in table without read permission",
  permissions: { read: false },
  fn() {
    assertEquals(lookupPort("http"), 80);
    assertEquals(lookupPort("ssh"), 22);
    assertEquals(lookupPort("syslog", "udp"), 514);
    assertEquals(lookupPort("systat"), undefined);
  },
});

Deno.test("lookupPort() rejects a name that is not a string", () => {
  const error = assertThrows(
    () => lookupPort(80 as unknown as string),
    TypeError,
    "Invalid service name 80",
  );
  assertStringIncludes(error.message, '"http"');
});

Deno.test("lookupPort() rejects a protocol other than tcp and udp", () => {
  assertThrows(
    () => lookupPort("http", "sctp" as "tcp"),
    RangeError,
    'Invalid protocol "sctp": use "tcp" or "udp"',
  );
  assertThrows(
    () => lookupPort("http", 6 as unknown as "tcp"),
    TypeError,
    "Invalid protocol 6",
  );
});

Deno.test("resolvePort() returns a port number as it is", () => {
  assertEquals(resolvePort(0), 0);
  assertEquals(resolvePort(80), 80);
  assertEquals(resolvePort(65535), 65535);
});

Deno.test("resolvePort() parses a numeric string", () => {
  assertEquals(resolvePort("0"), 0);
  assertEquals(resolvePort("8080"), 8080);
  assertEquals(resolvePort("65535"), 65535);
  assertEquals(resolvePort("080"), 80);
});

Deno.test("resolvePort() looks a service name up", () => {
  assertEquals(resolvePort("http"), 80);
  assertEquals(resolvePort("postgresql"), 5432);
  assertEquals(resolvePort("ntp", { protocol: "udp" }), 123);
});

Deno.test("resolvePort() uses defaultPort for an unknown service", () => {
  assertEquals(resolvePort("helo", { defaultPort: 2525 }), 2525);
  assertEquals(resolvePort("ntp", { defaultPort: 1123 }), 1123);
  assertEquals(resolvePort("ssh", { defaultPort: 2222 }), 22);
  assertEquals(resolvePort(8080, { defaultPort: 80 }), 8080);
  assertEquals(resolvePort("helo", { defaultPort: 0 }), 0);
});

Deno.test("resolvePort() rejects a number that is not a port", () => {
  for (const port of [-1, 65536, 1.5, NaN, Infinity, -Infinity]) {
    const error = assertThrows(
      () => resolvePort(port),
      RangeError,
      `Invalid port ${port}: a port is an integer from 0 to 65535`,
    );
    assertStringIncludes(error.message, "0 lets the system pick a free one");
  }
});

Deno.test("resolvePort() rejects a numeric string out of range", () => {
  assertThrows(
    () => resolvePort("65536"),
    RangeError,
    'Invalid port "65536": a port is an integer from 0 to 65535',
  );
  assertThrows(
    () => resolvePort("99999999999999999999"),
    RangeError,
    "a port is an integer from 0 to 65535",
  );
});

Deno.test("resolvePort() rejects an empty string", () => {
  assertThrows(
    () => resolvePort(""),
    RangeError,
    'Invalid port "": give a port number such as 8080 or a service name such as "http"',
  );
  assertThrows(() => resolvePort("", { defaultPort: 80 }), RangeError);
});

Deno.test("resolvePort() rejects a string with spaces, even with a defaultPort", () => {
  for (const port of [" 80", "80 ", "ht tp", "\t"]) {
    assertThrows(
      () => resolvePort(port, { defaultPort: 80 }),
      RangeError,
      `Invalid port ${JSON.stringify(port)}: remove the spaces`,
    );
  }
});

Deno.test("resolvePort() rejects a mistyped number, even with a defaultPort", () => {
  for (const options of [{}, { defaultPort: 80 }]) {
    assertThrows(
      () => resolvePort("80x", options),
      RangeError,
      'Invalid port "80x": it is neither a port number nor a known service; write the port in decimal digits',
    );
  }
  for (const port of ["-1", "+80", "1e3", "8080.0", ".5", "0x50"]) {
    assertThrows(
      () => resolvePort(port, { defaultPort: 80 }),
      RangeError,
      `Invalid port ${JSON.stringify(port)}`,
    );
  }
});

Deno.test("resolvePort() rejects an unknown service without defaultPort", () => {
  const error = assertThrows(
    () => resolvePort("helo"),
    RangeError,
    'Unknown service "helo" for tcp: it is not in /etc/services nor in the built-in table; give a port number or a defaultPort',
  );
  assertEquals(error.cause, undefined);
  assertThrows(
    () => resolvePort("ntp"),
    RangeError,
    'Unknown service "ntp" for tcp',
  );
});

Deno.test({
  name:
    "resolvePort() names --allow-read=/etc/services when an unknown service may be there",
  permissions: { read: false },
  fn() {
    assertEquals(resolvePort("https"), 443);
    assertThrows(
      () => resolvePort("systat"),
      RangeError,
      'Unknown service "systat" for tcp: it is not in the built-in table, and /etc/services was not read (run with --allow-read=/etc/services to use it)',
    );
    assertEquals(resolvePort("systat", { defaultPort: 11 }), 11);
  },
});

Deno.test("resolvePort() rejects a port that is not a number nor a string", () => {
  for (
    const [port, shown] of [
      [undefined, "undefined"],
      [null, "null"],
      [true, "true"],
      [80n, "80n"],
      [[80], "an array"],
      [{ port: 80 }, "an object (Object)"],
    ] as const
  ) {
    assertThrows(
      () => resolvePort(port as unknown as number),
      TypeError,
      `Invalid port ${shown}: a port is a number or a string`,
    );
  }
});

Deno.test("resolvePort() rejects an invalid defaultPort", () => {
  for (const defaultPort of [-1, 65536, 1.5, NaN]) {
    assertThrows(
      () => resolvePort("helo", { defaultPort }),
      RangeError,
      `Invalid defaultPort ${defaultPort}: a port is an integer from 0 to 65535`,
    );
  }
  // Checked even when not needed, so that a bad default shows at once.
  assertThrows(() => resolvePort(80, { defaultPort: -1 }), RangeError);
  assertThrows(
    () => resolvePort("helo", { defaultPort: "80" as unknown as number }),
    TypeError,
    'Invalid defaultPort "80"',
  );
});

Deno.test("resolvePort() rejects an invalid protocol or options", () => {
  assertThrows(
    () => resolvePort("http", { protocol: "TCP" as "tcp" }),
    RangeError,
    'Invalid protocol "TCP": use "tcp" or "udp"',
  );
  assertThrows(
    () => resolvePort(80, null as unknown as object),
    TypeError,
    "options must be an object, got null",
  );
});

Deno.test("resolvePort() rejects an unknown option name, naming the closest", () => {
  const error = assertThrows(
    () =>
      resolvePort(
        "http",
        { defaultport: 80 } as Parameters<
          typeof resolvePort
        >[1],
      ),
    TypeError,
  );
  assertStringIncludes(
    error.message,
    "options.defaultport is not an option; did you mean options.defaultPort?",
  );
});
