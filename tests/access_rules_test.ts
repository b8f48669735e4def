import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { readAccessRules } from "@sockets/net/server";
import { serveTcp } from "@sockets/net/tcp";
import { readAll, tempDir } from "./_helpers.ts";

/** Writes `text` as a rules file in a temp dir and reads it back. */
async function rulesOf(text: string) {
  await using dir = await tempDir("access-rules");
  const path = `${dir.path}/rules`;
  await Deno.writeTextFile(path, text);
  return await readAccessRules(path);
}

/** The message of the SyntaxError that reading `text` as rules throws. */
async function refusal(text: string): Promise<string> {
  const error = await assertRejects(() => rulesOf(text), SyntaxError);
  return error.message;
}

Deno.test("readAccessRules() maps a tcprules file that ends in :deny onto allow and deny", async () => {
  assertEquals(
    await rulesOf(
      [
        "# the office, but not the printer",
        "",
        "10.0.0.66:deny",
        "  10.0.0.0/8:allow  ",
        "192.168.1.:allow",
        "172.:allow",
        "2001:db8::1:deny",
        "2001:db8::/32:allow",
        ":deny",
        "",
      ].join("\n"),
    ),
    {
      allow: ["10.0.0.0/8", "192.168.1.0/24", "172.0.0.0/8", "2001:db8::/32"],
      deny: ["10.0.0.66", "2001:db8::1"],
    },
  );
});

Deno.test("readAccessRules() without a final :deny serves everyone not denied, as tcpserver does", async () => {
  assertEquals(
    await rulesOf("10.0.0.66:deny\n127.0.0.1:allow\n192.168.:deny\n"),
    { deny: ["10.0.0.66", "192.168.0.0/16"] },
  );
  assertEquals(await rulesOf("10.0.0.66:deny\n:allow\n"), {
    deny: ["10.0.0.66"],
  });
  assertEquals(await rulesOf("# nothing yet\n"), {});
  assertEquals(await rulesOf(":deny\n"), { allow: [] });
});

Deno.test("readAccessRules() refuses a deny line that an earlier allow line would shadow", async () => {
  const message = await refusal("10.0.0.0/8:allow\n10.0.0.66:deny\n:deny\n");
  assertStringIncludes(message, ':2: "10.0.0.66:deny": overlaps');
  assertStringIncludes(message, "move this line above line 1");
  // IPv4 rules also match the IPv4-mapped form.
  await refusal("::ffff:10.0.0.0/104:allow\n10.1.2.3:deny\n");
  await refusal("10.:allow\n0.0.0.0/0:deny\n");
  // Disjoint ranges keep their meaning in any order.
  assertEquals(await rulesOf("10.0.0.0/8:allow\n11.0.0.1:deny\n:deny\n"), {
    allow: ["10.0.0.0/8"],
    deny: ["11.0.0.1"],
  });
});

Deno.test("readAccessRules() refuses lines after the rule for everyone else", async () => {
  const message = await refusal("10.0.0.1:allow\n:deny\n10.0.0.2:allow\n");
  assertStringIncludes(message, ':3: "10.0.0.2:allow": never applies');
  assertStringIncludes(message, 'move ":deny" to the last line');
});

Deno.test("readAccessRules() names the line, the text and the fix of a bad line", async () => {
  for (
    const [line, why] of [
      ["10.0.0.1", 'add ":allow" or ":deny"'],
      ["10.0.0.1:permit", 'must end in ":allow" or ":deny", not ":permit"'],
      ['10.0.0.1:allow,RELAYCLIENT=""', "sets environment variables"],
      ["=mail.example.com:allow", "host names are not matched"],
      ["10.0.0.1-9:allow", 'such as "10.0.0.0/29"'],
      ["10.0.0.300:deny", "must be an IP address, a CIDR range"],
      ["10.0.0.0/33:deny", "must be an IP address, a CIDR range"],
    ]
  ) {
    const message = await refusal(`# first\n${line}\n`);
    assertStringIncludes(message, `rules:2: ${JSON.stringify(line)}: `);
    assertStringIncludes(message, why);
  }
});

Deno.test("readAccessRules() names the missing file, and the flag for a file it may not read", async () => {
  const missing = await assertRejects(
    () => readAccessRules("/nonexistent/rules"),
    Deno.errors.NotFound,
  );
  assertStringIncludes(
    missing.message,
    "read access rules file /nonexistent/rules: no such file",
  );
  await using dir = await tempDir("access-rules");
  const path = `${dir.path}/rules`;
  await Deno.writeTextFile(path, ":deny\n");
  const script = `${dir.path}/read.ts`;
  await Deno.writeTextFile(
    script,
    `import { readAccessRules } from ${
      JSON.stringify(new URL("../access_rules.ts", import.meta.url).href)
    };\nawait readAccessRules(${JSON.stringify(path)});\n`,
  );
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", script],
    stderr: "piped",
    stdout: "null",
  });
  const { code, stderr } = await command.output();
  assertEquals(code, 1);
  assertStringIncludes(
    new TextDecoder().decode(stderr),
    `run again with --allow-read=${path}`,
  );
});

Deno.test("readAccessRules() gives options a server applies", async () => {
  const rules = await rulesOf("127.0.0.1:deny\n");
  let handled = 0;
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0, ...rules },
    () => {
      handled++;
    },
  );
  using conn = await Deno.connect({ port: server.addr.port });
  assertEquals(await readAll(conn).catch(() => ""), "");
  assertEquals(server.counters.refusedByRules, 1);
  assertEquals(handled, 0);
});
