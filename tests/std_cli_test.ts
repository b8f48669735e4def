/**
 * Tests of the offline `@std/cli` stand-in against the specification of the
 * real `parseArgs`. The stand-in is imported by path, so these tests check it
 * even where JSR is reachable. Results are compared with their key order, as
 * the real package builds them in a fixed order.
 */
import { assertEquals, assertThrows } from "./std/assert.ts";
import { type Args, parseArgs, type ParseOptions } from "./std/cli.ts";

/** `value` with every plain object turned into its list of entries. */
function ordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ordered);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).map(([key, item]) => [key, ordered(item)]);
  }
  return value;
}

/** Checks a result: a plain object equal to `expected`, keys in the same order. */
function same(actual: unknown, expected: Record<string, unknown>): void {
  assertEquals(Object.getPrototypeOf(actual), Object.prototype);
  assertEquals(actual, expected);
  assertEquals(ordered(actual), ordered(expected));
}

Deno.test("parseArgs() without options reads flags and positionals", () => {
  same(parseArgs([]), { _: [] });
  same(parseArgs(["--port", "80", "-v", "--mode=fast", "file.txt"]), {
    _: ["file.txt"],
    port: 80,
    v: true,
    mode: "fast",
  });
  same(parseArgs(["serve", "--port=80", "-v", "x.ts", "9"]), {
    _: ["serve", 9],
    port: 80,
    v: "x.ts",
  });
  const readonlyArgs: readonly string[] = ["--a"];
  same(parseArgs(readonlyArgs), { _: [], a: true });
});

Deno.test("parseArgs() sorts integer-like keys first, then _, then names", () => {
  const result = parseArgs(["--b", "-5", "--a", "-3"], { alias: { b: "z" } });
  assertEquals(Object.keys(result), ["3", "5", "_", "b", "z", "a"]);
});

Deno.test("parseArgs() stops parsing at the first --", () => {
  same(parseArgs(["--a", "--", "--b", "5"]), { _: ["--b", "5"], a: true });
  same(parseArgs(["x", "--", "a", "--", "b"]), { _: ["x", "a", "--", "b"] });
  same(parseArgs(["--a", "--", "--b", "5"], { "--": true }), {
    _: [],
    a: true,
    "--": ["--b", "5"],
  });
  same(parseArgs(["1"], { "--": true }), { _: [1], "--": [] });
  same(parseArgs(["--a", "1"], { "--": false }), { _: [], a: 1 });
});

Deno.test("parseArgs() treats '-' as a positional and '-5' as a flag", () => {
  same(parseArgs(["-"]), { _: ["-"] });
  same(parseArgs(["-5"]), { "5": true, _: [] });
  same(parseArgs(["-n", "-5"]), { "5": true, _: [], n: true });
  same(parseArgs(["--n=-5", "-m-5"]), { _: [], n: -5, m: -5 });
  same(parseArgs(["---x"]), { _: [], "-x": true });
});

Deno.test("parseArgs() splits --name=value at the first =", () => {
  same(parseArgs(["--a=b=c", "--p=8080", "--e="]), {
    _: [],
    a: "b=c",
    p: 8080,
    e: "",
  });
  same(parseArgs(["--s=5"], { string: "s" }), { _: [], s: "5" });
  same(
    parseArgs(["--a=0", "--b=yes", "--c=", "--d=false", "--e=true"], {
      boolean: ["a", "b", "c", "d", "e"],
    }),
    { _: [], a: true, b: true, c: true, d: false, e: true },
  );
  same(parseArgs(["--no-x=1"]), { _: [], x: 1 });
  same(parseArgs(["--no-b=false"], { boolean: ["b"] }), { _: [], b: false });
  same(parseArgs(["--x=false", "--y=1"], { boolean: true }), {
    _: [],
    x: "false",
    y: 1,
  });
});

Deno.test("parseArgs() reads --no-name as false only for negatable names", () => {
  same(parseArgs(["--no-color"], { negatable: ["color"] }), {
    _: [],
    color: false,
  });
  same(parseArgs(["--no-color"]), { _: [], "no-color": true });
  same(parseArgs(["--no-color"], { boolean: ["color"] }), {
    _: [],
    "no-color": true,
    color: false,
  });
  same(parseArgs(["--no-flag", "val"]), { _: [], "no-flag": "val" });
  same(
    parseArgs(["--color", "--no-color"], {
      boolean: ["color"],
      negatable: ["color"],
    }),
    { _: [], color: false },
  );
  same(
    parseArgs(["--no-v"], { alias: { v: "verbose" }, negatable: ["verbose"] }),
    { _: [], v: false, verbose: false },
  );
  const collectNegatable: ParseOptions = { collect: "x", negatable: "x" };
  same(parseArgs(["--x", "1", "--x", "2", "--no-x"], collectNegatable), {
    _: [],
    x: false,
  });
  same(parseArgs(["--no-x", "--x", "2"], collectNegatable), { _: [], x: [2] });
});

Deno.test("parseArgs() lets a long flag take the next element", () => {
  same(parseArgs(["--flag", "val"]), { _: [], flag: "val" });
  same(parseArgs(["--x", "false"]), { _: [], x: "false" });
  same(parseArgs(["--x", "1", "2"]), { _: [2], x: 1 });
  same(parseArgs(["--x", "-"]), { _: ["-"], x: true });
  same(parseArgs(["--x", ""]), { _: [""], x: true });
  same(parseArgs(["--x", "--y"]), { _: [], x: true, y: true });
  same(parseArgs(["--x"]), { _: [], x: true });
  same(
    parseArgs(["--b", "x", "--c", "false", "--d", "true"], {
      boolean: ["b", "c", "d"],
    }),
    { _: ["x"], b: true, c: false, d: true },
  );
  same(parseArgs(["--s", "--t", "-1"], { string: ["s", "t"] }), {
    "1": true,
    _: [],
    s: "",
    t: "",
  });
  same(parseArgs(["--x", "y", "--z", "false"], { boolean: true }), {
    _: ["y"],
    x: true,
    z: false,
  });
  same(
    parseArgs(["--v", "x"], { alias: { v: "verbose" }, boolean: "verbose" }),
    { _: ["x"], v: true, verbose: true },
  );
});

Deno.test("parseArgs() reads short flag groups", () => {
  same(parseArgs(["-abc"]), { _: [], a: true, b: true, c: true });
  same(parseArgs(["-abc", "val"]), { _: [], a: true, b: true, c: "val" });
  same(parseArgs(["-vvv"]), { _: [], v: true });
  same(parseArgs(["-vvv", "-v"], { collect: ["v"] }), {
    _: [],
    v: [true, true, true, true],
  });
  same(parseArgs(["-f", "-"]), { _: [], f: "-" });
  same(parseArgs(["-f", "---x"]), { _: [], f: "---x" });
  same(parseArgs(["-f", "--x"]), { _: [], f: true, x: true });
  same(parseArgs(["-f", "-x"]), { _: [], f: true, x: true });
  same(parseArgs(["-f", ""]), { _: [""], f: true });
  same(parseArgs(["-x", "y"], { boolean: true }), { _: [], x: "y" });
  same(parseArgs(["-b", "x", "-c", "false"], { boolean: ["b", "c"] }), {
    _: ["x"],
    b: true,
    c: false,
  });
  same(parseArgs(["-sa", "-t"], { string: ["s", "t"] }), {
    _: [],
    s: "",
    a: true,
    t: "",
  });
  same(parseArgs(["-12"]), { "1": true, "2": true, _: [] });
});

Deno.test("parseArgs() takes values inside short flag groups", () => {
  same(parseArgs(["-n5"]), { _: [], n: 5 });
  same(parseArgs(["-n-5", "-m5.5", "-k1e3", "-j2e-1"]), {
    _: [],
    n: -5,
    m: 5.5,
    k: 1000,
    j: 0.2,
  });
  same(parseArgs(["-n5"], { string: ["n"] }), { _: [], n: "5" });
  same(parseArgs(["-abc1"]), { _: [], a: "bc1" });
  same(parseArgs(["-a-"]), { _: [], a: "-" });
  same(parseArgs(["-ab-"]), { _: [], a: true, b: "-" });
  same(parseArgs(["-a="]), { _: [], a: "" });
  same(parseArgs(["-a="], { boolean: ["a"] }), { _: [], a: "" });
  same(parseArgs(["-ab="]), { _: [], a: true, b: "" });
  same(parseArgs(["-n=5"]), { _: [], n: 5 });
  same(parseArgs(["-ab=c"]), { _: [], a: "c" });
  same(parseArgs(["-a=b=c"]), { _: [], a: "b=c" });
  same(parseArgs(["-1=2"]), { "1": "=2", _: [] });
  same(parseArgs(["-a.b"]), { _: [], a: ".b" });
  same(parseArgs(["-a,"]), { _: [], a: true, ",": true });
  same(parseArgs(["-a."]), { _: [], a: true, "": { "": true } });
});

Deno.test("parseArgs() converts number-like values and positionals", () => {
  same(
    parseArgs(["5", "007", "0x10", "0b11", "1e3", ".5", "5.", " 5 "]),
    { _: [5, 7, 16, 3, 1000, 0.5, 5, 5] },
  );
  same(
    parseArgs(["", " ", "abc", "Infinity", "1e400", "1_000", "-"]),
    { _: ["", " ", "abc", "Infinity", "1e400", "1_000", "-"] },
  );
  same(parseArgs(["--x=0x10", "--y", " 5 ", "--z", "Infinity"]), {
    _: [],
    x: 16,
    y: 5,
    z: "Infinity",
  });
  same(parseArgs(["--s", "5", "7"], { string: ["s", "_"] }), {
    _: ["7"],
    s: "5",
  });
  same(parseArgs([], { default: { p: "80" } }), { _: [], p: "80" });
});

Deno.test("parseArgs() nests dotted keys and refuses prototype keys", () => {
  same(parseArgs(["--a.b", "1", "--a.c=x", "--a.d"]), {
    _: [],
    a: { b: 1, c: "x", d: true },
  });
  same(parseArgs(["--x.y.z", "1"]), { _: [], x: { y: { z: 1 } } });
  const polluted = parseArgs([
    "--__proto__.polluted",
    "1",
    "--constructor",
    "2",
    "--a.constructor.prototype.polluted=3",
    "--b.__proto__=4",
  ]);
  same(polluted, { _: [] });
  assertEquals("polluted" in {}, false);
  const error = assertThrows(
    () => parseArgs(["--a", "x", "--a.b", "y"]),
    TypeError,
  );
  assertEquals(error.message, "Cannot create property 'b' on string 'x'");
});

Deno.test("parseArgs() gathers collect names in arrays", () => {
  same(parseArgs(["--a", "1", "--a", "2"]), { _: [], a: 2 });
  same(parseArgs(["--a", "1", "--a", "2"], { collect: ["a"] }), {
    _: [],
    a: [1, 2],
  });
  same(parseArgs(["--a=x"], { collect: "a" }), { _: [], a: ["x"] });
  same(parseArgs(["--a.b", "1", "--a", "2"], { collect: ["a"] }), {
    _: [],
    a: [{ b: 1 }, 2],
  });
  same(
    parseArgs(["-t", "x", "--tag", "y"], {
      alias: { t: "tag" },
      collect: ["tag"],
      string: ["tag"],
    }),
    { _: [], t: ["x", "y"], tag: ["x", "y"] },
  );
  same(
    parseArgs([], {
      boolean: ["b"],
      string: ["s"],
      collect: ["b", "s", "c"],
    }),
    { _: [], b: [], s: [] },
  );
});

Deno.test("parseArgs() gives every alias the same value", () => {
  same(parseArgs(["--out", "x"], { alias: { o: ["out", "output"] } }), {
    _: [],
    out: "x",
    o: "x",
    output: "x",
  });
  same(parseArgs(["-o", "x"], { alias: { o: ["out", "output"] } }), {
    _: [],
    o: "x",
    out: "x",
    output: "x",
  });
  same(parseArgs(["--x", "1"], { alias: { a: "x", b: "x" } }), {
    _: [],
    x: 1,
    b: 1,
  });
  same(parseArgs(["--a", "2"], { alias: { a: "x", b: "x" } }), {
    _: [],
    a: 2,
    x: 2,
  });
  same(
    parseArgs(["--verbose", "x"], { alias: { verbose: "v" }, boolean: "v" }),
    {
      _: ["x"],
      verbose: true,
      v: true,
    },
  );
  same(parseArgs([], { alias: { verbose: "v" }, boolean: "v" }), {
    _: [],
    v: false,
    verbose: false,
  });
  const error = assertThrows(
    () => parseArgs([], { alias: { a: undefined } }),
    TypeError,
  );
  assertEquals(error.message, "Alias value must be defined");
});

Deno.test("parseArgs() ignores empty names in the name lists", () => {
  same(parseArgs([], { boolean: ["", "b"], string: "" }), { _: [], b: false });
});

Deno.test("parseArgs() fills defaults for names that are not given", () => {
  same(parseArgs(["--a", "1"], { default: { a: 5, b: "x", c: "7" } }), {
    _: [],
    a: 1,
    b: "x",
    c: "7",
  });
  same(parseArgs([], { default: { "a.b": 3 } }), { _: [], a: { b: 3 } });
  same(parseArgs(["--a.c", "1"], { default: { "a.b": 3, "a.c": 4 } }), {
    _: [],
    a: { c: 1, b: 3 },
  });
  same(parseArgs([], { alias: { o: "output" }, default: { o: "y" } }), {
    _: [],
    o: "y",
    output: "y",
  });
  same(parseArgs([], { collect: ["x"], default: { x: "a" } }), {
    _: [],
    x: "a",
  });
  same(
    parseArgs([], {
      boolean: ["b"],
      string: ["s"],
      collect: ["s"],
      default: { s: "a", b: "maybe" },
    }),
    { _: [], s: "a", b: "maybe" },
  );
});

Deno.test("parseArgs() fills absent booleans with false, not strings", () => {
  const result = parseArgs(["-v"], {
    boolean: ["help", "v"],
    string: ["name"],
    default: { port: 1 },
  });
  same(result, { _: [], v: true, port: 1, help: false });
  assertEquals("name" in result, false);
  same(parseArgs(["--x.z"], { boolean: ["x.y", "x.z"] }), {
    _: [],
    x: { z: true, y: false },
  });
});

Deno.test("parseArgs() with stopEarly stops at the first positional", () => {
  same(parseArgs(["--a", "b", "c", "--d"], { stopEarly: true }), {
    _: ["c", "--d"],
    a: "b",
  });
  same(parseArgs(["1", "2", "-x", "--", "3"], { stopEarly: true }), {
    _: [1, "2", "-x", "3"],
  });
  same(parseArgs(["1", "2", "--", "3"], { stopEarly: true, "--": true }), {
    _: [1, "2"],
    "--": ["3"],
  });
  const seen: string[] = [];
  same(
    parseArgs(["c", "5", "--d"], {
      stopEarly: true,
      unknown: (arg) => {
        seen.push(arg);
        return false;
      },
    }),
    { _: ["5", "--d"] },
  );
  assertEquals(seen, ["c"]);
});

Deno.test("parseArgs() asks unknown() about undeclared flags and positionals", () => {
  const calls: unknown[][] = [];
  const result = parseArgs(
    ["--x", "1", "--keep=2", "-y", "--b", "pos", "--no-n", "--s", "--c", "3"],
    {
      boolean: ["b"],
      string: ["s"],
      collect: ["c"],
      negatable: ["n"],
      unknown: (...args) => {
        calls.push(args);
        return args[1] === "keep" ? undefined : false;
      },
    },
  );
  same(result, { _: [], keep: 2, b: true, s: "", c: [3] });
  assertEquals(calls, [
    ["--x", "x", "1"],
    ["--keep=2", "keep", "2"],
    ["-y", "y", true],
    ["pos"],
    ["--no-n", "n", false],
  ]);

  const allBooleans: unknown[][] = [];
  same(
    parseArgs(["--x", "--y=1", "-z"], {
      boolean: true,
      unknown: (...args) => void allBooleans.push(args),
    }),
    { _: [], x: true, y: 1, z: true },
  );
  assertEquals(allBooleans, [["--y=1", "y", "1"], ["-z", "z", true]]);

  same(
    parseArgs(["--a", "1", "--o", "2"], {
      alias: { o: "out" },
      unknown: () => 0,
    }),
    { _: [], a: 1, o: 2, out: 2 },
  );
});

/** Never called: `deno check` verifies that these typing rules hold. */
export function typingRules(args: string[], names: string[], on: boolean) {
  // Without boolean/string/collect names, every flag reads as `any`.
  const loose = parseArgs(args, { default: { a: 1 }, negatable: ["x"] });
  const anything: number = loose.anything;
  const positionals: Array<string | number> = loose._;
  // @ts-expect-error: positionals may be numbers
  const onlyStrings: string[] = loose._;
  const plain: Args = parseArgs(args);

  const typed = parseArgs(args, {
    string: ["port", "color", "tag"],
    boolean: ["help", "v"],
    collect: ["tag", "v", "item"],
    negatable: ["color", "item"],
  });
  const port: string | undefined = typed.port;
  // @ts-expect-error: a string name may be absent
  const givenPort: string = typed.port;
  const color: string | false | undefined = typed.color;
  // @ts-expect-error: a negatable name may be false
  const colorString: string | undefined = typed.color;
  const tags: string[] = typed.tag;
  const help: boolean = typed.help;
  // @ts-expect-error: a boolean name is a boolean
  const helpText: string = typed.help;
  const verbose: boolean[] = typed.v;
  const items: unknown[] | false = typed.item;
  // @ts-expect-error: a negatable collect name may be false
  const itemList: unknown[] = typed.item;
  const other: unknown = typed.other;
  // @ts-expect-error: undeclared flags read as unknown
  const otherText: string = typed.other;
  // @ts-expect-error: no "--" without the "--" option
  const noRest: string[] = typed["--"];

  const withDefaults = parseArgs(args, {
    string: ["port", "host"],
    default: { port: "8080", host: 1, name: "x" },
  });
  const defaultPort: string = withDefaults.port;
  const host: string | number = withDefaults.host;
  // @ts-expect-error: the default's type joins the declared type
  const hostText: string = withDefaults.host;
  // @ts-expect-error: a default for an undeclared name reads as unknown
  const name: string = withDefaults.name;

  const dotted = parseArgs(args, { string: ["db.host"], boolean: ["db.ssl"] });
  const dbHost: string | undefined = dotted.db?.host;
  const ssl: boolean = dotted.db.ssl;
  // @ts-expect-error: a string name may be absent, also when nested
  const dbHostText: string = dotted.db.host;

  const aliased = parseArgs(args, { string: ["port"], alias: { port: "p" } });
  const p: string | undefined = aliased.p;
  const reversed = parseArgs(args, { string: ["port"], alias: { p: "port" } });
  // @ts-expect-error: only aliases of a declared name are typed
  const q: string | undefined = reversed.p;

  // @ts-expect-error: all-booleans mode declares no names
  const x: boolean = parseArgs(args, { boolean: true }).x;
  const fromList: string | undefined = parseArgs(args, { string: names }).any;
  // @ts-expect-error: names from a non-literal list may be absent
  const fromListText: string = parseArgs(args, { string: names }).any;

  const rest: string[] = parseArgs(args, { "--": true })["--"];
  // @ts-expect-error: "--" may be absent when the option is not known
  const maybeRest: string[] = parseArgs(args, { string: "a", "--": on })["--"];
  const options: ParseOptions = { string: ["a"], unknown: () => false };
  // @ts-expect-error: the value of an alias must be a name or names
  parseArgs(args, { alias: { a: 1 } });

  void [anything, positionals, onlyStrings, plain, port, givenPort, color];
  void [colorString, tags, help, helpText, verbose, items, itemList, other];
  void [otherText, noRest, defaultPort, host, hostText, name, dbHost, ssl];
  void [dbHostText, p, q, x, fromList, fromListText, rest, maybeRest];
  void options;
}
