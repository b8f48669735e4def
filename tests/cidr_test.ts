import { assert, assertEquals, assertThrows } from "@std/assert";
import { formatIp, matchesAny, parseCidr, parseIp } from "../_cidr.ts";

function ranges(...texts: string[]) {
  return texts.map((text) => parseCidr(text, "range"));
}

Deno.test("parseIp() reads IPv4 as its IPv4-mapped IPv6 bytes", () => {
  assertEquals(
    [...parseIp("192.0.2.1")!],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1],
  );
  assertEquals(parseIp("::ffff:192.0.2.1"), parseIp("192.0.2.1"));
  assertEquals(parseIp("::ffff:c000:201"), parseIp("192.0.2.1"));
});

Deno.test("parseIp() reads every IPv6 spelling of one address alike", () => {
  const full = parseIp("2001:0db8:0000:0000:0000:0000:0000:0001");
  assertEquals(parseIp("2001:db8::1"), full);
  assertEquals(parseIp("2001:DB8::1"), full);
  assertEquals(parseIp("2001:db8::1%eth0"), full);
  assertEquals([...parseIp("::")!], new Array(16).fill(0));
  assertEquals(parseIp("::1")![15], 1);
  assertEquals(parseIp("fe80::")![0], 0xfe);
});

Deno.test("parseIp() refuses what is not an IP literal", () => {
  for (
    const text of [
      "",
      "localhost",
      "1.2.3",
      "01.2.3.4",
      "1::2::3",
      "[::1]",
      "256.0.0.1",
    ]
  ) {
    assertEquals(parseIp(text), undefined, text);
  }
});

Deno.test("matchesAny() matches IPv4 addresses and ranges", () => {
  const list = ranges("10.0.0.0/8", "192.0.2.7", "172.16.0.0/12");
  assert(matchesAny(list, "10.255.1.2"));
  assert(matchesAny(list, "192.0.2.7"));
  assert(!matchesAny(list, "192.0.2.8"));
  assert(matchesAny(list, "172.31.255.255"));
  assert(!matchesAny(list, "172.32.0.0"));
  assert(!matchesAny(list, "11.0.0.0"));
  assert(matchesAny(ranges("0.0.0.0/0"), "203.0.113.9"));
  assert(!matchesAny(ranges("0.0.0.0/0"), "2001:db8::1"));
});

Deno.test("matchesAny() matches an IPv4 rule for the IPv4-mapped IPv6 form and back", () => {
  assert(matchesAny(ranges("127.0.0.1"), "::ffff:127.0.0.1"));
  assert(matchesAny(ranges("10.0.0.0/8"), "::ffff:10.1.2.3"));
  assert(matchesAny(ranges("::ffff:10.0.0.0/104"), "10.9.9.9"));
  assert(!matchesAny(ranges("::ffff:10.0.0.0/104"), "11.9.9.9"));
});

Deno.test("matchesAny() matches IPv6 ranges on any bit boundary", () => {
  const list = ranges("2001:db8::/32", "fd00:0:0:ff80::/57");
  assert(matchesAny(list, "2001:db8:ffff::1"));
  assert(!matchesAny(list, "2001:db9::1"));
  assert(matchesAny(list, "fd00:0:0:ffff::1"));
  assert(!matchesAny(list, "fd00:0:0:ff00::1"));
  assert(matchesAny(ranges("::1"), "::1"));
  assert(!matchesAny(ranges("::1"), "127.0.0.1"));
  assert(!matchesAny(ranges("::/0"), "localhost"));
});

Deno.test("parseCidr() says what a valid entry looks like", () => {
  for (
    const text of [
      "10.0.0.0/33",
      "10.0.0.0/",
      "10.0.0.0/-1",
      "::/129",
      "host",
      "10.0.0.0/8/8",
      "10.0.0.0/1e1",
    ]
  ) {
    const error = assertThrows(() => parseCidr(text, "trusted[0]"), TypeError);
    assert(
      error.message.includes(
        "trusted[0] must be an IP address or a CIDR range",
      ),
      error.message,
    );
    assert(error.message.includes(JSON.stringify(text)), error.message);
  }
});

Deno.test("formatIp() writes IPv6 in the canonical form of RFC 5952", () => {
  const cases: [string, string][] = [
    ["2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["::", "::"],
    ["::1", "::1"],
    ["fe80::", "fe80::"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
  ];
  for (const [input, canonical] of cases) {
    assertEquals(formatIp(parseIp(input)!), canonical, input);
  }
  assertEquals(formatIp(new Uint8Array([192, 0, 2, 1])), "192.0.2.1");
});
