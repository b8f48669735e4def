// A rules file in the spirit of tcpserver's (tcprules), read into the `allow`
// and `deny` options that both engines take.

import { type Cidr, cidrContains, parseCidr } from "./_cidr.ts";
import { explainReadFile } from "./_errors.ts";
import type { AccessRules } from "./_rules.ts";

/** One rule line of the file, as read. */
interface Rule {
  line: number;
  text: string;
  /** `undefined` for the catch-all, a line with no address. */
  range: Cidr | undefined;
  /** The address or range as the options take it. */
  entry: string;
  allow: boolean;
}

/**
 * Reads a rules file in the spirit of tcpserver's (`tcprules`) into the
 * `allow` and `deny` options, to spread into any server's options.
 *
 * Each line is `ADDRESS:allow` or `ADDRESS:deny`. `ADDRESS` is an IP address
 * (`10.0.0.66`, `2001:db8::1`), a CIDR range (`10.0.0.0/8`, `2001:db8::/32`),
 * tcpserver's IPv4 prefix (`192.168.1.` for `192.168.1.0/24`, `10.` for
 * `10.0.0.0/8`), or nothing: the catch-all `:deny` (or `:allow`) on the last
 * line decides for everyone else. Blank lines and lines starting with `#` are
 * skipped.
 *
 * tcpserver applies the first line that matches; the engines refuse anyone in
 * `deny` and, when `allow` is set, anyone not in it. The file maps onto them
 * with the same meaning: `:allow` lines go to `allow` when the file ends with
 * `:deny`; without it everyone not denied is served, as under tcpserver, and
 * `allow` is left out. A file whose meaning would differ is refused rather
 * than changed: a `:deny` line that overlaps an earlier `:allow` line (the
 * first match would allow their common addresses, the engines deny them),
 * and any line after the catch-all (the first match never reaches it).
 * tcpserver's environment settings (`:allow,VAR="value"`), host names
 * (`=host`) and ranges of the last byte (`10.0.0.1-9`) have no counterpart
 * here and are refused too.
 *
 * @param path The rules file; reading it needs `--allow-read=PATH`.
 * @returns `allow` and `deny`, each set only when the file needs it.
 * @throws {Deno.errors.NotFound} If the file does not exist.
 * @throws {Deno.errors.NotCapable} Without read permission; the message names the flag.
 * @throws {SyntaxError} At the first line that is not a rule, or whose
 * meaning would differ under the engines' rules: the message gives the path,
 * the line number, the line and the fix.
 *
 * @example Serve the local network, but not one host
 * ```ts
 * import { readAccessRules, serve } from "@sockets/net/server";
 * import { assertEquals } from "@std/assert";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(
 *   path,
 *   "# deny first: the first match wins\n" +
 *     "10.0.0.66:deny\n" +
 *     "10.0.0.0/8:allow\n" +
 *     "127.0.0.1:allow\n" +
 *     ":deny\n",
 * );
 * const rules = await readAccessRules(path);
 * await Deno.remove(path);
 * assertEquals(rules, {
 *   allow: ["10.0.0.0/8", "127.0.0.1"],
 *   deny: ["10.0.0.66"],
 * });
 * await using server = serve(
 *   Deno.listen({ hostname: "127.0.0.1", port: 0 }),
 *   () => {},
 *   { ...rules },
 * );
 * ```
 */
export async function readAccessRules(path: string): Promise<AccessRules> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw explainReadFile(error, path, "access rules file");
  }
  return mapRules(path, parseRules(path, text));
}

function parseRules(path: string, text: string): Rule[] {
  const rules: Rule[] = [];
  for (const [index, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    rules.push(parseRule(path, index + 1, line));
  }
  return rules;
}

function parseRule(path: string, line: number, text: string): Rule {
  const bad = (why: string): SyntaxError =>
    new SyntaxError(`${path}:${line}: ${JSON.stringify(text)}: ${why}`);
  const colon = text.lastIndexOf(":");
  if (colon === -1) {
    throw bad(
      'a rule is ADDRESS:allow or ADDRESS:deny, such as "10.0.0.0/8:allow"; add ":allow" or ":deny", or start the line with # to make it a comment',
    );
  }
  const address = text.slice(0, colon).trim();
  const instruction = text.slice(colon + 1).trim();
  const comma = instruction.indexOf(",");
  if (comma !== -1) {
    throw bad(
      `sets environment variables (${
        instruction.slice(comma + 1)
      }), which these rules cannot do; remove them and set what the handler needs in the handler`,
    );
  }
  if (instruction !== "allow" && instruction !== "deny") {
    throw bad(
      `the rule must end in ":allow" or ":deny", not ":${instruction}"`,
    );
  }
  const allow = instruction === "allow";
  if (address === "") return { line, text, range: undefined, entry: "", allow };
  if (address.startsWith("=")) {
    throw bad(
      "host names are not matched, only IP addresses; write the host's addresses or CIDR range instead",
    );
  }
  if (/^[\d.]+-\d+$/.test(address)) {
    throw bad(
      'ranges of the last byte are not read; write the range as CIDR ranges, such as "10.0.0.0/29"',
    );
  }
  const prefix = /^(\d{1,3}\.){1,3}$/.test(address);
  const octets = address.split(".").slice(0, -1);
  const entry = prefix
    ? `${[...octets, "0", "0", "0"].slice(0, 4).join(".")}/${octets.length * 8}`
    : address;
  try {
    return { line, text, range: parseCidr(entry, "the address"), entry, allow };
  } catch {
    throw bad(
      'the address must be an IP address, a CIDR range or an IPv4 prefix such as "10.0.0.66", "10.0.0.0/8", "2001:db8::/32" or "192.168.1.", or nothing for everyone else',
    );
  }
}

/** Whether two ranges have an address in common: the wider holds the start of the narrower. */
function overlaps(a: Cidr, b: Cidr): boolean {
  return a.bits <= b.bits ? cidrContains(a, b.bytes) : cidrContains(b, a.bytes);
}

function mapRules(path: string, rules: Rule[]): AccessRules {
  const allow: string[] = [];
  const deny: string[] = [];
  let catchAll: Rule | undefined;
  for (const [i, rule] of rules.entries()) {
    const at = `${path}:${rule.line}: ${JSON.stringify(rule.text)}`;
    if (catchAll !== undefined) {
      throw new SyntaxError(
        `${at}: never applies, because the rule for everyone else on line ${catchAll.line} matches first; move ${
          JSON.stringify(catchAll.text)
        } to the last line`,
      );
    }
    if (rule.range === undefined) {
      catchAll = rule;
      continue;
    }
    if (!rule.allow) {
      const shadow = rules.slice(0, i).find((earlier) =>
        earlier.allow && earlier.range !== undefined &&
        overlaps(earlier.range, rule.range!)
      );
      if (shadow !== undefined) {
        throw new SyntaxError(
          `${at}: overlaps ${
            JSON.stringify(shadow.text)
          } on line ${shadow.line}, which matches first and allows the addresses both name, but here deny wins over allow; to deny them, move this line above line ${shadow.line}, else remove it`,
        );
      }
    }
    (rule.allow ? allow : deny).push(rule.entry);
  }
  const rulesRead: AccessRules = {};
  if (catchAll !== undefined && !catchAll.allow) rulesRead.allow = allow;
  if (deny.length > 0) rulesRead.deny = deny;
  return rulesRead;
}
