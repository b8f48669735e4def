import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
  assertThrows,
} from "@std/assert";
import { lookupHost, type LookupHostOptions } from "../resolve.ts";
import { interleaveFamilies, ipFamily, unbracket } from "../_address.ts";

// RFC 6761 reserves .invalid: it never resolves.
const NO_SUCH_HOST = "no-such-host.invalid";

Deno.test("lookupHost() resolves localhost from /etc/hosts", async () => {
  const addresses = await lookupHost("localhost");
  assert(addresses.includes("127.0.0.1"), `got ${addresses}`);
  for (const address of addresses) assert(ipFamily(address) !== undefined);
  assertEquals(new Set(addresses).size, addresses.length);
});

Deno.test({
  name: "lookupHost() needs net permission for the name alone",
  permissions: { net: ["localhost"] },
  async fn() {
    assert((await lookupHost("localhost")).includes("127.0.0.1"));
  },
});

Deno.test({
  name: "lookupHost() returns IP literals as they are, without a lookup",
  permissions: { net: false },
  async fn() {
    assertEquals(await lookupHost("127.0.0.1"), ["127.0.0.1"]);
    assertEquals(await lookupHost("0.0.0.0"), ["0.0.0.0"]);
    assertEquals(await lookupHost("::1"), ["::1"]);
    assertEquals(await lookupHost("::"), ["::"]);
    assertEquals(await lookupHost("2001:db8::1"), ["2001:db8::1"]);
    assertEquals(await lookupHost("::ffff:192.0.2.1"), ["::ffff:192.0.2.1"]);
    assertEquals(await lookupHost("fe80::1%lo"), ["fe80::1%lo"]);
  },
});

Deno.test({
  name: "lookupHost() removes the brackets of an IPv6 literal",
  permissions: { net: false },
  async fn() {
    assertEquals(await lookupHost("[::1]"), ["::1"]);
    assertEquals(await lookupHost("[2001:db8::1]"), ["2001:db8::1"]);
  },
});

Deno.test({
  name:
    "lookupHost() names the exact --allow-net flag when permission is denied",
  permissions: { net: false },
  async fn() {
    const error = await assertRejects(
      () => lookupHost("localhost"),
      Deno.errors.NotCapable,
      "lookup localhost: permission denied; run again with --allow-net=localhost",
    );
    assertInstanceOf(error.cause, Error);
  },
});

Deno.test({
  name: "lookupHost() is denied with a permission scoped to a port",
  permissions: { net: ["localhost:80"] },
  async fn() {
    await assertRejects(
      () => lookupHost("localhost"),
      Deno.errors.NotCapable,
      "--allow-net=localhost",
    );
  },
});

Deno.test("lookupHost() rejects a name without addresses with NotFound", async () => {
  const error = await assertRejects(
    () => lookupHost(NO_SUCH_HOST),
    Deno.errors.NotFound,
    `lookup ${NO_SUCH_HOST}: no such host; check the spelling or the DNS configuration`,
  );
  assertInstanceOf(error.cause, Error);
});

Deno.test("lookupHost() rejects with the reason of an aborted signal", async () => {
  const reason = new Error("gave up");
  const error = await assertRejects(() =>
    lookupHost("localhost", { signal: AbortSignal.abort(reason) })
  );
  assertStrictEquals(error, reason);
  // Before any lookup, even for a literal.
  await assertRejects(
    () => lookupHost("127.0.0.1", { signal: AbortSignal.abort() }),
    DOMException,
  );
});

Deno.test("lookupHost() stops waiting when the signal aborts during the lookup", async () => {
  const controller = new AbortController();
  const reason = new Error("deadline");
  const lookup = lookupHost("localhost", { signal: controller.signal });
  controller.abort(reason);
  const error = await assertRejects(() => lookup);
  assertStrictEquals(error, reason);
});

Deno.test("lookupHost() resolves with a signal that does not abort", async () => {
  const controller = new AbortController();
  const addresses = await lookupHost("localhost", {
    signal: controller.signal,
  });
  assert(addresses.includes("127.0.0.1"));
});

Deno.test("lookupHost() rejects a hostname that is not a string", async () => {
  for (
    const [hostname, shown] of [
      [undefined, "undefined"],
      [null, "null"],
      [127001, "127001"],
      [new URL("http://localhost/"), "an object (URL)"],
    ] as const
  ) {
    await assertRejects(
      () => lookupHost(hostname as unknown as string),
      TypeError,
      `hostname must be a string such as "127.0.0.1" or "example.com", got ${shown}`,
    );
  }
});

Deno.test("lookupHost() rejects an empty hostname", async () => {
  await assertRejects(
    () => lookupHost(""),
    RangeError,
    'hostname must not be empty: give an address such as "127.0.0.1"',
  );
});

Deno.test("lookupHost() rejects a hostname with spaces or control characters", async () => {
  for (const hostname of [" localhost", "local host", "localhost\n", "a\0b"]) {
    await assertRejects(
      () => lookupHost(hostname),
      RangeError,
      `Invalid hostname ${
        JSON.stringify(hostname)
      }: remove the spaces and control characters`,
    );
  }
});

Deno.test("lookupHost() rejects a hostname with a port", async () => {
  for (const hostname of ["localhost:80", "127.0.0.1:80", "::1:80:"]) {
    await assertRejects(
      () => lookupHost(hostname),
      RangeError,
      `Invalid hostname ${
        JSON.stringify(hostname)
      }: give the host without a port`,
    );
  }
});

Deno.test("lookupHost() rejects brackets around anything but an IPv6 address", async () => {
  for (const hostname of ["[localhost]", "[127.0.0.1]", "[::1", "::1]", "[]"]) {
    await assertRejects(
      () => lookupHost(hostname),
      RangeError,
      "brackets only enclose IPv6 addresses",
    );
  }
});

Deno.test("lookupHost() rejects invalid options", async () => {
  await assertRejects(
    () => lookupHost("localhost", null as unknown as object),
    TypeError,
    "options must be an object",
  );
  await assertRejects(
    () => lookupHost("localhost", { signal: 1000 as unknown as AbortSignal }),
    TypeError,
    "signal must be an AbortSignal",
  );
});

Deno.test("ipFamily() recognises IPv4 literals", () => {
  for (const text of ["0.0.0.0", "127.0.0.1", "255.255.255.255", "192.0.2.1"]) {
    assertEquals(ipFamily(text), 4, text);
  }
  for (
    const text of [
      "256.0.0.1",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "1.2.3.",
      "1..2.3",
      " 1.2.3.4",
      "0x7f.0.0.1",
    ]
  ) {
    assertEquals(ipFamily(text), undefined, text);
  }
});

Deno.test("ipFamily() recognises IPv6 literals", () => {
  for (
    const text of [
      "::",
      "::1",
      "1::",
      "2001:db8::1",
      "2001:DB8:0:0:0:0:0:1",
      "1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6::8",
      "::ffff:192.0.2.1",
      "64:ff9b::192.0.2.1",
      "1:2:3:4:5:6:1.2.3.4",
      "fe80::1%eth0",
      "fe80::1%1",
    ]
  ) {
    assertEquals(ipFamily(text), 6, text);
  }
  for (
    const text of [
      "",
      ":",
      ":::",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7::8",
      "1::2::3",
      "12345::1",
      "g::1",
      ":1:2:3:4:5:6:7",
      "1.2.3.4::",
      "::1.2.3",
      "fe80::1%",
      "[::1]",
      "localhost",
      "example.com",
    ]
  ) {
    assertEquals(ipFamily(text), undefined, text);
  }
});

Deno.test("unbracket() removes the brackets of an IPv6 literal only", () => {
  assertEquals(unbracket("[::1]"), "::1");
  assertEquals(unbracket("::1"), "::1");
  assertEquals(unbracket("localhost"), "localhost");
});

Deno.test("interleaveFamilies() alternates families, IPv6 first when it leads", () => {
  assertEquals(
    interleaveFamilies(["::1", "::2", "::3", "10.0.0.1", "10.0.0.2"]),
    ["::1", "10.0.0.1", "::2", "10.0.0.2", "::3"],
  );
});

Deno.test("interleaveFamilies() lets the family of the first address lead", () => {
  assertEquals(
    interleaveFamilies(["10.0.0.1", "10.0.0.2", "10.0.0.3", "::1"]),
    ["10.0.0.1", "::1", "10.0.0.2", "10.0.0.3"],
  );
  assertEquals(
    interleaveFamilies(["10.0.0.1", "::1", "::2", "::3", "10.0.0.2"]),
    ["10.0.0.1", "::1", "10.0.0.2", "::2", "::3"],
  );
});

Deno.test("interleaveFamilies() keeps a single family in order", () => {
  assertEquals(interleaveFamilies([]), []);
  assertEquals(interleaveFamilies(["10.0.0.2", "10.0.0.1"]), [
    "10.0.0.2",
    "10.0.0.1",
  ]);
  assertEquals(interleaveFamilies(["::2", "::1"]), ["::2", "::1"]);
});

Deno.test("interleaveFamilies() tries firstFamilyCount addresses per turn", () => {
  assertEquals(
    interleaveFamilies(["::1", "::2", "::3", "10.0.0.1", "10.0.0.2"], 2),
    ["::1", "::2", "10.0.0.1", "::3", "10.0.0.2"],
  );
  assertThrows(() => interleaveFamilies(["::1"], 0), RangeError);
  assertThrows(() => interleaveFamilies(["::1"], 1.5), RangeError);
});

Deno.test("interleaveFamilies() does not change its argument", () => {
  const addresses = Object.freeze(["10.0.0.1", "10.0.0.2", "::1"]);
  interleaveFamilies(addresses);
  assertEquals(addresses, ["10.0.0.1", "10.0.0.2", "::1"]);
});

Deno.test("lookupHost() rejects an unknown option name, naming the closest", async () => {
  await assertRejects(
    () => lookupHost("localhost", { signl: true } as LookupHostOptions),
    TypeError,
    "options.signl is not an option; did you mean options.signal?",
  );
});
