/**
 * fast-check generators of hostile client frames for the protocol fuzz
 * (test/relay/hostile.fuzz.test.ts): random bytes and text, random JSON, every
 * message type with plausible and hostile values in every position and broken
 * arities, deep nesting, huge numbers, long strings, NUL bytes, invalid UTF-8.
 */
import fc from "fast-check"
import { bytesToHex, Negentropy, Storage } from "../../src/negentropy/engine.ts"
import type { NostrEvent } from "../../src/nostr/index.ts"

/** Frames are kept under the relay's maxMessageBytes (256 KiB): an oversized frame closes the socket (tested in limits.test.ts). */
export const MAX_FRAME_BYTES = 200 * 1024

/** The NIP-01 machine-readable prefixes (plus NIP-77's `closed:` and the relay's `unsupported:`). */
export const PREFIXED = /^(invalid|duplicate|blocked|rate-limited|pow|restricted|auth-required|mute|error|unsupported|closed): /

// ---------------------------------------------------------------- JSON with raw tokens

/** A JSON fragment sent verbatim (numbers JSON.stringify cannot write, deep nesting, odd objects). */
class Raw {
  readonly text: string
  constructor(text: string) {
    this.text = text
  }
}

const toJson = (v: unknown): string => {
  if (v instanceof Raw) return v.text
  if (Array.isArray(v)) return "[" + v.map(toJson).join(",") + "]"
  if (v !== null && typeof v === "object") {
    return "{" + Object.entries(v).map(([k, x]) => JSON.stringify(k) + ":" + toJson(x)).join(",") + "}"
  }
  return JSON.stringify(v) ?? "null"
}

/** An object from entries, as raw JSON: keys like "__proto__" stay plain keys, duplicates stay duplicated. */
const rawObject = (entries: ReadonlyArray<readonly [string, unknown]>) =>
  new Raw("{" + entries.map(([k, x]) => JSON.stringify(k) + ":" + toJson(x)).join(",") + "}")

// ---------------------------------------------------------------- arbitraries

/**
 * Bulk random bytes from a drawn seed (xorshift): drawing each byte through fast-check costs a
 * generator call per byte, and the fuzz needs hundreds of thousands of frames in seconds.
 */
const bytesFrom = (n: number, seed: number): Buffer => {
  const out = Buffer.alloc(n)
  let x = seed | 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}
const randomBytes = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.nat()).map(([n, seed]) => bytesFrom(n, seed))
/** n lowercase hex characters. */
const hex = (n: number) => fc.nat().map((seed) => bytesFrom(Math.ceil(n / 2), seed).toString("hex").slice(0, n))
const hexUpTo = (max: number) => fc.tuple(fc.integer({ min: 0, max }), fc.nat()).map(([n, seed]) => bytesFrom(Math.ceil(n / 2), seed).toString("hex").slice(0, n))
const hex64 = hex(64)

const oddScalar = fc.constantFrom<unknown>(
  null, true, false, 0, -0, -1, 1, 1.5, -0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 2 ** 64, 1e21, 1e308, -1e308, 5e-324,
  "", " ", "\u0000", "\u0000\u0000\u0000", "null", "true", "0", "[]", "{}", "EVENT", "REQ", "\uFFFD", "\u202E", "\uD800", "\uDC00x",
  "a".repeat(65), "A".repeat(64), "0".repeat(63), "0".repeat(65), "0".repeat(64), "0".repeat(128), "\n\r\t\b\f\\\"", "💥".repeat(40)
)
const rawNumber = fc
  .constantFrom(
    "1e400", "-1e400", "123456789012345678901234567890", "0.0000000000000000000000001", "-0", "1E+2", "1.0", "9007199254740993",
    "-9223372036854775809", "1e-400", "00", "01", "+1", ".5", "1.", "0x10", "NaN", "Infinity", "-", "1e", "\"\\u0000\"", "\"\\ud800\"",
    "\"\\uDBFF\\uDFFF\"", "\"\\x41\"", "\"\\u00\""
  )
  .map((t) => new Raw(t))
const nulString = fc
  .array(fc.constantFrom("\u0000", "a", "\\", "\"", "\n", "\uFFFF", "😀", "\uDC00", "%", "*", "(", "domain:", " "), { maxLength: 24 })
  .map((xs) => xs.join(""))
const longString = fc
  .tuple(fc.integer({ min: 65, max: 400 }), fc.constantFrom("x", "\u0000", "é", "\\", "😀", " "))
  .map(([n, c]) => c.repeat(n))
const nested = (d: number, shape: string) =>
  new Raw(
    shape === "array"
      ? "[".repeat(d) + "]".repeat(d)
      : shape === "object"
        ? '{"a":'.repeat(d) + "1" + "}".repeat(d)
        : shape === "unbalanced"
          ? "[".repeat(d) + "]".repeat(Math.max(0, d - 1))
          : '[{"#e":'.repeat(d) + '"x"' + "}]".repeat(d)
  )
const nestingShape = fc.constantFrom("array", "object", "unbalanced", "mixed")
const deep = fc.tuple(fc.integer({ min: 2, max: 200 }), nestingShape).map(([d, shape]) => nested(d, shape))
const scalar: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: oddScalar },
  { weight: 2, arbitrary: rawNumber },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.double() },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
  { weight: 2, arbitrary: nulString },
  { weight: 1, arbitrary: longString }
)
const oddKey = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "length", "id", "kind", "#e", "#", "##", "#ab", "ids", "limit", ""),
  fc.string({ maxLength: 5 })
)
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 10, arbitrary: scalar },
  { weight: 1, arbitrary: deep },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.array(scalar, { maxLength: 5 }) },
  { weight: 2, arbitrary: fc.array(fc.tuple(oddKey, scalar), { maxLength: 5 }).map(rawObject) }
)

/** A subscription id: mostly a plausible string (made unique when the frame is built), else anything. */
const subIdArb = fc.oneof(
  { weight: 5, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: nulString.filter((s) => s.length > 0) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 300 }).map((n) => "s".repeat(n)) },
  { weight: 3, arbitrary: hostile }
)

const filterKey = fc.constantFrom("ids", "authors", "kinds", "since", "until", "limit", "search", "#e", "#p", "#t", "#d", "#E", "#", "#ab", "foo", "__proto__", "")
const mixedList = fc.array(fc.oneof(hex64, scalar, fc.integer({ min: 0, max: 70_000 })), { maxLength: 5 })
const validFilter = (known: ReadonlyArray<NostrEvent>) =>
  fc.oneof(
    fc.constant({}),
    fc.record({ kinds: fc.constant([1]), limit: fc.integer({ min: 0, max: 5 }) }),
    fc.constantFrom(...known).map((e) => ({ authors: [e.pubkey], limit: 3 })),
    fc.constantFrom(...known).map((e) => ({ ids: [e.id] })),
    fc.constant({ "#t": ["fuzz"], since: 0, until: 2 ** 31 }),
    fc.constant({ search: "hostile fuzz", limit: 2 }),
    fc.constant({ kinds: [0, 30023], "#d": ["", "x"] })
  )
const filterArb = (known: ReadonlyArray<NostrEvent>) =>
  fc.oneof(
    { weight: 3, arbitrary: validFilter(known) },
    { weight: 4, arbitrary: fc.array(fc.tuple(filterKey, fc.oneof(hostile, mixedList)), { maxLength: 4 }).map(rawObject) },
    { weight: 2, arbitrary: hostile }
  )

const emptyNegMessage = bytesToHex(new Negentropy(new Storage([])).initiate())
const negMessageArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(emptyNegMessage) },
  { weight: 2, arbitrary: fc.tuple(hex(2), fc.nat()).map(([h, i]) => { const at = (2 * i) % emptyNegMessage.length; return emptyNegMessage.slice(0, at) + h + emptyNegMessage.slice(at + 2) }) },
  { weight: 2, arbitrary: hexUpTo(400).map((h) => "61" + h) },
  { weight: 1, arbitrary: hexUpTo(40) },
  { weight: 1, arbitrary: fc.constantFrom("", "6", "61", "zz", "60", "62", "61" + "ff".repeat(20), "61" + "00".repeat(2000)) },
  { weight: 2, arbitrary: hostile }
)

const EVENT_FIELDS = ["id", "pubkey", "created_at", "kind", "tags", "content", "sig"] as const
const tagsArb = fc.oneof(
  hostile,
  fc.array(hostile, { maxLength: 4 }),
  fc.array(fc.array(hostile, { maxLength: 3 }), { maxLength: 4 }),
  fc.array(fc.tuple(fc.constantFrom("e", "p", "d", "t", "", "\u0000"), scalar), { maxLength: 4 })
)

/**
 * Big values (about 2% of the frames carry one): strings up to 150 kB, nesting up to 60,000 deep, lists
 * just under and over maxFilterValues (1000), tag lists just under and over maxEventTags (2000).
 */
const bigValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.tuple(fc.integer({ min: 1000, max: 25_000 }), fc.constantFrom("x", "\u0000", "é", "\\", "😀", "\"")).map(([n, c]) => c.repeat(n)),
  fc.integer({ min: 25_000, max: 150_000 }).map((n) => "y".repeat(n)),
  fc.tuple(fc.integer({ min: 1000, max: 60_000 }), nestingShape).map(([d, shape]) => nested(d, shape)),
  fc.integer({ min: 990, max: 2500 }).map((n) => new Raw("[" + Array(n).fill('"' + "0".repeat(64) + '"').join(",") + "]")),
  fc.integer({ min: 990, max: 20_000 }).map((n) => new Raw("[" + Array(n).fill("1").join(",") + "]")),
  fc.integer({ min: 1990, max: 2600 }).map((n) => new Raw("[" + Array(n).fill('["t","x"]').join(",") + "]"))
)
type EventOp = { readonly op: "set"; readonly key: string; readonly value: unknown } | { readonly op: "del"; readonly key: string }
/** A stored (valid) event with one to three fields broken, removed or added. */
const brokenEvent = (known: ReadonlyArray<NostrEvent>) =>
  fc
    .tuple(
      fc.constantFrom(...known),
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("set" as const), key: fc.constantFrom<string>(...EVENT_FIELDS, "extra", "__proto__", "Id"), value: hostile }),
          fc.record({ op: fc.constant("set" as const), key: fc.constant("tags"), value: tagsArb }),
          fc.record({ op: fc.constant("del" as const), key: fc.constantFrom<string>(...EVENT_FIELDS) })
        ),
        { minLength: 1, maxLength: 3 }
      )
    )
    .map(([e, ops]: [NostrEvent, Array<EventOp>]) => {
      const entries = new Map<string, unknown>(Object.entries(e))
      for (const o of ops) {
        if (o.op === "del") entries.delete(o.key)
        else entries.set(o.key, o.value)
      }
      return rawObject([...entries])
    })

export interface Pools {
  readonly known: ReadonlyArray<NostrEvent>
  /** Validly signed events the relay must refuse (future created_at, kind 22242 as EVENT, a borrowed sig). */
  readonly refused: ReadonlyArray<NostrEvent>
  /** Validly signed AUTH events that cannot authenticate (wrong challenge, wrong kind). */
  readonly badAuth: ReadonlyArray<NostrEvent>
}

const TAGS = ["EVENT", "REQ", "CLOSE", "COUNT", "AUTH", "NEG-OPEN", "NEG-MSG", "NEG-CLOSE"] as const
const oddTag = fc.constantFrom<unknown>("event", "EVENT ", " REQ", "NEG_OPEN", "NEG-", "", "OK", "NOTICE", "EOSE", "CLOSED", "AUTH\u0000")

/** The arguments of one message type: plausible values mixed with hostile ones in every position. */
const argsFor = (tag: unknown, p: Pools): fc.Arbitrary<Array<unknown>> => {
  const filters = fc.array(filterArb(p.known), { maxLength: 4 })
  switch (tag) {
    case "EVENT":
      return fc.oneof(
        { weight: 6, arbitrary: brokenEvent(p.known).map((e) => [e]) },
        { weight: 1, arbitrary: fc.constantFrom(...p.known).map((e) => [e]) }, // a resend: OK true "duplicate:"
        { weight: 1, arbitrary: fc.constantFrom(...p.refused).map((e) => [e]) },
        { weight: 2, arbitrary: hostile.map((x) => [x]) }
      )
    case "AUTH":
      return fc.oneof(
        { weight: 4, arbitrary: brokenEvent(p.known).map((e) => [e]) },
        { weight: 1, arbitrary: fc.constantFrom(...p.badAuth, ...p.known).map((e) => [e]) },
        { weight: 2, arbitrary: hostile.map((x) => [x]) }
      )
    case "REQ":
    case "COUNT":
      return fc.tuple(subIdArb, filters).map(([s, fs]) => [s, ...fs])
    case "NEG-OPEN":
      return fc.tuple(subIdArb, filterArb(p.known), negMessageArb).map((xs) => [...xs])
    case "NEG-MSG":
      return fc.tuple(subIdArb, negMessageArb).map((xs) => [...xs])
    default:
      return fc.oneof(subIdArb.map((s) => [s]), fc.array(hostile, { maxLength: 3 }))
  }
}

/** A message: its tag and arguments, then sometimes the arity broken (arguments cut or added). */
const messageArb = (p: Pools): fc.Arbitrary<Array<unknown>> => {
  const args = TAGS.map((t) => argsFor(t, p))
  const proper = fc.oneof(...TAGS.map((t, i) => args[i]!.map((a): Array<unknown> => [t, ...a])))
  // A wrong tag, with the arguments of some real message type or anything.
  const wrong = fc
    .tuple(fc.oneof(oddTag, hostile), fc.oneof(fc.oneof(...args), argsFor(undefined, p)))
    .map(([t, a]): Array<unknown> => [t, ...a])
  return fc
    .tuple(
      fc.oneof({ weight: 6, arbitrary: proper }, { weight: 1, arbitrary: wrong }),
      fc.oneof({ weight: 8, arbitrary: fc.constant("keep") }, fc.constant("cut"), fc.constant("add")),
      fc.nat(),
      fc.array(hostile, { minLength: 1, maxLength: 2 })
    )
    .map(([msg, arity, n, extra]) => {
      if (arity === "cut") return msg.slice(0, n % (msg.length + 1))
      if (arity === "add") return [...msg, ...extra]
      return msg
    })
}

/** A message with one big value: in an argument position, or in a field of an otherwise valid event. */
const bigMessage = (p: Pools, messages: fc.Arbitrary<Array<unknown>>): fc.Arbitrary<Array<unknown>> =>
  fc.oneof(
    fc.tuple(messages, bigValue, fc.nat()).map(([msg, big, i]) => {
      const m = [...msg]
      if (m.length < 2) m.push(big)
      else m[1 + (i % (m.length - 1))] = big
      return m
    }),
    fc
      .tuple(fc.constantFrom("EVENT", "AUTH"), fc.constantFrom(...p.known), fc.constantFrom("content", "tags", "id", "sig", "kind", "extra"), bigValue)
      .map(([tag, e, key, big]) => [tag, rawObject([...Object.entries(e).filter(([k]) => k !== key), [key, big]])])
  )

export type Frame = { readonly binary: boolean; readonly data: string | Buffer }
/** What the fuzz builds before the per-frame ids are made unique. */
export type Unit =
  | { readonly kind: "message"; readonly msg: Array<unknown>; readonly binary: boolean }
  | { readonly kind: "negPair"; readonly open: Array<unknown>; readonly second: Array<unknown> }
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "bytes"; readonly bytes: Uint8Array }
  | { readonly kind: "badUtf8"; readonly msg: Array<unknown>; readonly junk: Uint8Array; readonly at: number }
  | { readonly kind: "nul"; readonly msg: Array<unknown>; readonly at: number }

const junkBytes = fc.oneof(
  fc.constantFrom(
    Uint8Array.of(0xff), Uint8Array.of(0xfe, 0xff), Uint8Array.of(0xc0, 0x80), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xe2, 0x82),
    Uint8Array.of(0xf4, 0x90, 0x80, 0x80), Uint8Array.of(0x80), Uint8Array.of(0xf0, 0x9f, 0x98)
  ),
  randomBytes(1, 16)
)

export const unitArb = (p: Pools): fc.Arbitrary<Unit> => {
  const messages = messageArb(p)
  return fc.oneof(
    { weight: 30, arbitrary: messages.map((msg): Unit => ({ kind: "message", msg, binary: false })) },
    { weight: 3, arbitrary: messages.map((msg): Unit => ({ kind: "message", msg, binary: true })) },
    { weight: 1, arbitrary: bigMessage(p, messages).map((msg): Unit => ({ kind: "message", msg, binary: false })) },
    {
      weight: 2,
      arbitrary: fc.tuple(subIdArb, filterArb(p.known), negMessageArb, fc.oneof(negMessageArb.map((m) => ["NEG-MSG", m]), fc.constant(["NEG-CLOSE"]))).map(
        ([s, f, m, [tag, ...rest]]): Unit => ({ kind: "negPair", open: ["NEG-OPEN", s, f, m], second: [tag, s, ...rest] })
      )
    },
    { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 60 }).map((text): Unit => ({ kind: "text", text })) },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v): Unit => ({ kind: "text", text: JSON.stringify(v) })) },
    { weight: 1, arbitrary: deep.map((r): Unit => ({ kind: "text", text: r.text })) },
    { weight: 3, arbitrary: randomBytes(0, 300).map((bytes): Unit => ({ kind: "bytes", bytes })) },
    { weight: 3, arbitrary: fc.tuple(messages, junkBytes, fc.nat()).map(([msg, junk, at]): Unit => ({ kind: "badUtf8", msg, junk, at })) },
    { weight: 2, arbitrary: fc.tuple(messages, fc.nat()).map(([msg, at]): Unit => ({ kind: "nul", msg, at })) }
  )
}

let unique = 0
/** String subscription ids get a unique suffix, so one frame's answer never depends on another's (a REQ replacing a running one). */
const uniqueIds = (msg: Array<unknown>, n: number): Array<unknown> =>
  typeof msg[1] === "string" && msg[1] !== "" ? [msg[0], `${msg[1]}~${n}~`, ...msg.slice(2)] : msg

const capped = (text: string) => (text.length > MAX_FRAME_BYTES / 4 && Buffer.byteLength(text) > MAX_FRAME_BYTES ? text.slice(0, MAX_FRAME_BYTES / 4) : text)
/** A position in the text after the unique id, so junk never merges two ids. */
const after = (text: string, at: number) => {
  const start = Math.max(0, text.indexOf("~\"") + 2)
  return start + (at % (text.length - start + 1))
}

export const framesOf = (u: Unit): Array<Frame> => {
  const n = ++unique
  switch (u.kind) {
    case "message":
      return [{ binary: u.binary, data: capped(toJson(uniqueIds(u.msg, n))) }]
    case "negPair":
      return [
        { binary: false, data: capped(toJson(uniqueIds(u.open, n))) },
        { binary: false, data: capped(toJson(uniqueIds(u.second, n))) }
      ]
    case "text":
      return [{ binary: false, data: capped(u.text) }]
    case "bytes":
      return [{ binary: true, data: Buffer.from(u.bytes) }]
    case "badUtf8": {
      const text = capped(toJson(uniqueIds(u.msg, n)))
      const at = Buffer.byteLength(text.slice(0, after(text, u.at)))
      const bytes = Buffer.from(text)
      return [{ binary: true, data: Buffer.concat([bytes.subarray(0, at), u.junk, bytes.subarray(at)]) }]
    }
    case "nul": {
      const text = capped(toJson(uniqueIds(u.msg, n)))
      const at = after(text, u.at)
      return [{ binary: false, data: text.slice(0, at) + "\u0000" + text.slice(at) }]
    }
  }
}

/** The text the relay decodes (ws encodes a JS string as UTF-8; lone surrogates become U+FFFD). */
export const relayText = (f: Frame) => (typeof f.data === "string" ? Buffer.from(f.data).toString("utf8") : f.data.toString("utf8"))

/** NIP-01 / NIP-77: a well-formed CLOSE or NEG-CLOSE gets no answer; every other frame gets exactly one. */
export const answered = (text: string): boolean => {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch {
    return true
  }
  return !(Array.isArray(v) && v.length === 2 && (v[0] === "CLOSE" || v[0] === "NEG-CLOSE") && typeof v[1] === "string" && v[1] !== "")
}

