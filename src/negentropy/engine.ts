/**
 * Negentropy protocol V1 (the appendix of NIP-77): range-based set
 * reconciliation over (timestamp, id) records. Pure TypeScript, both roles:
 * the initiator (`initiate`, then `reconcile` with have/need lists until it
 * returns undefined) and the responder (`respond`). Messages are bytes; the
 * relay hex-encodes them.
 */
import { createHash } from "node:crypto"

export const PROTOCOL_VERSION = 0x61
export const ID_SIZE = 32
export const FINGERPRINT_SIZE = 16
const BUCKETS = 16
const Mode = { Skip: 0, Fingerprint: 1, IdList: 2 } as const

/** The "infinity" timestamp (2^64 - 1 in the protocol). */
export const INFINITY = Number.POSITIVE_INFINITY

export interface Item {
  readonly timestamp: number
  /** 32 bytes */
  readonly id: Uint8Array
}

export interface Bound {
  readonly timestamp: number
  /** 0..32 bytes: a prefix, trailing bytes implicitly 0 */
  readonly id: Uint8Array
}

export class NegentropyError extends Error {}

const compareBytes = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  // A shorter prefix is padded with zeros.
  for (let i = n; i < a.length; i++) if (a[i] !== 0) return 1
  for (let i = n; i < b.length; i++) if (b[i] !== 0) return -1
  return 0
}

const compareItemBound = (item: Item, bound: Bound): number =>
  item.timestamp !== bound.timestamp ? (item.timestamp < bound.timestamp ? -1 : 1) : compareBytes(item.id, bound.id)

export const compareItems = (a: Item, b: Item): number =>
  a.timestamp !== b.timestamp ? a.timestamp - b.timestamp : compareBytes(a.id, b.id)

// ---------------------------------------------------------------- bytes

class Writer {
  private buf = new Uint8Array(256)
  length = 0
  private grow(n: number) {
    if (this.length + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }
  byte(b: number) {
    this.grow(1)
    this.buf[this.length++] = b
  }
  bytes(b: Uint8Array) {
    this.grow(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
  }
  append(w: Writer) {
    this.bytes(w.result())
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length)
  }
}

class Reader {
  private pos = 0
  private readonly buf: Uint8Array
  constructor(buf: Uint8Array) {
    this.buf = buf
  }
  get done() {
    return this.pos >= this.buf.length
  }
  byte(): number {
    if (this.pos >= this.buf.length) throw new NegentropyError("message ends early")
    return this.buf[this.pos++]!
  }
  bytes(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new NegentropyError("message ends early")
    const out = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return out
  }
}

/** Base-128, most significant digit first, high bit set on all but the last byte. */
export const encodeVarint = (n: number): Uint8Array => {
  if (!Number.isSafeInteger(n) || n < 0) throw new NegentropyError(`cannot encode ${n} as a varint`)
  if (n === 0) return Uint8Array.of(0)
  const digits: Array<number> = []
  while (n > 0) {
    digits.push(n % 128)
    n = Math.floor(n / 128)
  }
  digits.reverse()
  for (let i = 0; i < digits.length - 1; i++) digits[i]! |= 0x80
  return Uint8Array.from(digits)
}

export const decodeVarint = (r: { byte: () => number }): number => {
  let n = 0
  for (let i = 0; ; i++) {
    if (i > 8) throw new NegentropyError("varint too long")
    const b = r.byte()
    n = n * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) return n
  }
}

// ---------------------------------------------------------------- storage

/**
 * A sealed, sorted vector of records, packed: one buffer of ids (32 bytes
 * each) and one array of timestamps, so a session over 100,000 records holds
 * about 4 MB rather than 100,000 objects.
 */
export class Storage {
  private readonly ids: Uint8Array
  private readonly view: DataView
  private readonly timestamps: Float64Array
  readonly size: number
  constructor(items: Iterable<Item> | { readonly packedIds: Uint8Array; readonly timestamps: Float64Array }) {
    if ("packedIds" in items) {
      this.size = items.timestamps.length
      this.ids = items.packedIds
      this.view = new DataView(this.ids.buffer, this.ids.byteOffset, this.ids.byteLength)
      this.timestamps = items.timestamps
      return
    }
    const sorted = [...items].sort(compareItems)
    this.size = sorted.length
    this.ids = new Uint8Array(this.size * ID_SIZE)
    this.view = new DataView(this.ids.buffer)
    this.timestamps = new Float64Array(this.size)
    sorted.forEach((it, i) => {
      if (it.id.length !== ID_SIZE) throw new NegentropyError("record ids must be 32 bytes")
      if (!Number.isSafeInteger(it.timestamp) || it.timestamp < 0) throw new NegentropyError("record timestamps must be non-negative integers")
      if (i > 0 && compareItems(sorted[i - 1]!, it) === 0) throw new NegentropyError("duplicate record")
      this.ids.set(it.id, i * ID_SIZE)
      this.timestamps[i] = it.timestamp
    })
  }
  /** From (created_at, hex id) records as stores give them, without an object per record. */
  static fromRecords(records: ReadonlyArray<{ readonly created_at: number; readonly id: string }>): Storage {
    const sorted = [...records].sort((a, b) => (a.created_at !== b.created_at ? a.created_at - b.created_at : a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    const ids = Buffer.alloc(sorted.length * ID_SIZE)
    const timestamps = new Float64Array(sorted.length)
    sorted.forEach((r, i) => {
      if (typeof r.id !== "string" || !/^[0-9a-f]{64}$/.test(r.id)) throw new NegentropyError("record ids must be 64 lowercase hex characters")
      if (!Number.isSafeInteger(r.created_at) || r.created_at < 0) throw new NegentropyError("record timestamps must be non-negative integers")
      if (i > 0 && sorted[i - 1]!.created_at === r.created_at && sorted[i - 1]!.id === r.id) throw new NegentropyError("duplicate record")
      ids.write(r.id, i * ID_SIZE, "hex")
      timestamps[i] = r.created_at
    })
    return new Storage({ packedIds: new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength), timestamps })
  }
  timestamp(i: number): number {
    return this.timestamps[i]!
  }
  /** The id of record i (a view, not a copy). */
  id(i: number): Uint8Array {
    return this.ids.subarray(i * ID_SIZE, (i + 1) * ID_SIZE)
  }
  item(i: number): Item {
    return { timestamp: this.timestamps[i]!, id: this.id(i) }
  }
  /** First index in [begin, end) whose record is >= bound, else end. */
  findLowerBound(begin: number, end: number, bound: Bound): number {
    let lo = begin
    let hi = end
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const t = this.timestamps[mid]!
      const c = t !== bound.timestamp ? (t < bound.timestamp ? -1 : 1) : compareBytes(this.id(mid), bound.id)
      if (c < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  /** SHA-256 of (sum of ids mod 2^256, little-endian) ++ varint(count), first 16 bytes. */
  fingerprint(begin: number, end: number): Uint8Array {
    // Eight 32-bit little-endian limbs with carry; the carry out of the top limb is dropped (mod 2^256).
    const limbs = new Uint32Array(8)
    for (let i = begin; i < end; i++) {
      let carry = 0
      const base = i * ID_SIZE
      for (let j = 0; j < 8; j++) {
        const v = limbs[j]! + this.view.getUint32(base + j * 4, true) + carry
        limbs[j] = v >>> 0
        carry = v > 0xffffffff ? 1 : 0
      }
    }
    const bytes = new Uint8Array(ID_SIZE)
    const out = new DataView(bytes.buffer)
    for (let j = 0; j < 8; j++) out.setUint32(j * 4, limbs[j]!, true)
    const h = createHash("sha256").update(bytes).update(encodeVarint(end - begin)).digest()
    return new Uint8Array(h.buffer, h.byteOffset, FINGERPRINT_SIZE)
  }
}

// ---------------------------------------------------------------- protocol

const hexKey = (b: Uint8Array) => Buffer.from(b).toString("hex")

export interface ReconcileResult {
  /** The next message to send, or undefined when reconciliation is complete. */
  readonly next: Uint8Array | undefined
  /** Ids (hex) we have and the other side lacks. */
  readonly have: ReadonlyArray<string>
  /** Ids (hex) the other side has and we lack. */
  readonly need: ReadonlyArray<string>
}

export class Negentropy {
  private lastTimestampIn = 0
  private lastTimestampOut = 0
  private isInitiator = false
  private readonly storage: Storage
  private readonly frameSizeLimit: number
  constructor(storage: Storage, frameSizeLimit = 0) {
    if (frameSizeLimit !== 0 && frameSizeLimit < 4096) throw new NegentropyError("frameSizeLimit is too small (at least 4096)")
    this.storage = storage
    this.frameSizeLimit = frameSizeLimit
  }

  /** Records held. */
  get size(): number {
    return this.storage.size
  }

  /** The initiator's first message. */
  initiate(): Uint8Array {
    if (this.isInitiator) throw new NegentropyError("already initiated")
    this.isInitiator = true
    const out = new Writer()
    out.byte(PROTOCOL_VERSION)
    this.lastTimestampOut = 0
    out.append(this.splitRange(0, this.storage.size, { timestamp: INFINITY, id: new Uint8Array(0) }))
    return out.result()
  }

  /** Responder: the answer to a message. */
  respond(query: Uint8Array): Uint8Array {
    if (this.isInitiator) throw new NegentropyError("the initiator cannot respond")
    return this.reconcileAux(query, [], []).result()
  }

  /** Initiator: handles the responder's message. */
  reconcile(query: Uint8Array): ReconcileResult {
    if (!this.isInitiator) throw new NegentropyError("only the initiator reconciles")
    const have: Array<string> = []
    const need: Array<string> = []
    const out = this.reconcileAux(query, have, need)
    return { next: out.length === 1 ? undefined : out.result(), have, need }
  }

  private reconcileAux(queryBytes: Uint8Array, have: Array<string>, need: Array<string>): Writer {
    this.lastTimestampIn = 0
    this.lastTimestampOut = 0
    const query = new Reader(queryBytes)
    const full = new Writer()
    full.byte(PROTOCOL_VERSION)
    const version = query.byte()
    if (version < 0x60 || version > 0x6f) throw new NegentropyError("invalid negentropy protocol version byte")
    if (version !== PROTOCOL_VERSION) {
      if (this.isInitiator) throw new NegentropyError(`unsupported negentropy protocol version ${version}`)
      return full // the highest version we support, alone: the client may downgrade
    }
    const size = this.storage.size
    let prevBound: Bound = { timestamp: 0, id: new Uint8Array(0) }
    let prevIndex = 0
    let skip = false

    while (!query.done) {
      let o = new Writer()
      const doSkip = () => {
        if (skip) {
          skip = false
          o.append(this.encodeBound(prevBound))
          o.bytes(encodeVarint(Mode.Skip))
        }
      }
      const currBound = this.decodeBound(query)
      const mode = decodeVarint(query)
      const lower = prevIndex
      let upper = this.storage.findLowerBound(prevIndex, size, currBound)

      if (mode === Mode.Skip) {
        skip = true
      } else if (mode === Mode.Fingerprint) {
        const theirs = query.bytes(FINGERPRINT_SIZE)
        const ours = this.storage.fingerprint(lower, upper)
        if (compareBytes(theirs, ours) !== 0 || theirs.length !== ours.length) {
          doSkip()
          o.append(this.splitRange(lower, upper, currBound))
        } else skip = true
      } else if (mode === Mode.IdList) {
        const count = decodeVarint(query)
        const theirs = new Map<string, Uint8Array>()
        for (let i = 0; i < count; i++) {
          const id = query.bytes(ID_SIZE)
          if (this.isInitiator) theirs.set(hexKey(id), id)
        }
        if (this.isInitiator) {
          skip = true
          for (let i = lower; i < upper; i++) {
            const k = hexKey(this.storage.id(i))
            if (theirs.has(k)) theirs.delete(k)
            else have.push(k)
          }
          for (const k of theirs.keys()) need.push(k)
        } else {
          doSkip()
          const ids = new Writer()
          let n = 0
          let endBound = currBound
          for (let i = lower; i < upper; i++) {
            if (this.exceeded(full.length + ids.length)) {
              endBound = this.storage.item(i)
              upper = i
              break
            }
            ids.bytes(this.storage.id(i))
            n++
          }
          o.append(this.encodeBound(endBound))
          o.bytes(encodeVarint(Mode.IdList))
          o.bytes(encodeVarint(n))
          o.append(ids)
          full.append(o)
          o = new Writer()
        }
      } else {
        throw new NegentropyError(`unexpected range mode ${mode}`)
      }

      if (this.exceeded(full.length + o.length)) {
        // Past the frame limit: stop here, with a fingerprint of everything left.
        const rest = this.storage.fingerprint(upper, size)
        full.append(this.encodeBound({ timestamp: INFINITY, id: new Uint8Array(0) }))
        full.bytes(encodeVarint(Mode.Fingerprint))
        full.bytes(rest)
        break
      }
      full.append(o)
      prevIndex = upper
      prevBound = currBound
    }
    return full
  }

  private exceeded(n: number) {
    return this.frameSizeLimit !== 0 && n > this.frameSizeLimit - 200
  }

  private splitRange(lower: number, upper: number, upperBound: Bound): Writer {
    const o = new Writer()
    const count = upper - lower
    if (count < BUCKETS * 2) {
      o.append(this.encodeBound(upperBound))
      o.bytes(encodeVarint(Mode.IdList))
      o.bytes(encodeVarint(count))
      for (let i = lower; i < upper; i++) o.bytes(this.storage.id(i))
      return o
    }
    const perBucket = Math.floor(count / BUCKETS)
    const withExtra = count % BUCKETS
    let curr = lower
    for (let i = 0; i < BUCKETS; i++) {
      const bucketSize = perBucket + (i < withExtra ? 1 : 0)
      const fp = this.storage.fingerprint(curr, curr + bucketSize)
      curr += bucketSize
      const next = curr === upper ? upperBound : minimalBound(this.storage.item(curr - 1), this.storage.item(curr))
      o.append(this.encodeBound(next))
      o.bytes(encodeVarint(Mode.Fingerprint))
      o.bytes(fp)
    }
    return o
  }

  private encodeBound(b: Bound): Writer {
    const o = new Writer()
    o.bytes(this.encodeTimestampOut(b.timestamp))
    o.bytes(encodeVarint(b.id.length))
    o.bytes(b.id)
    return o
  }

  private encodeTimestampOut(t: number): Uint8Array {
    if (t === INFINITY) {
      this.lastTimestampOut = INFINITY
      return encodeVarint(0)
    }
    const delta = t - this.lastTimestampOut
    this.lastTimestampOut = t
    return encodeVarint(delta + 1)
  }

  private decodeBound(r: Reader): Bound {
    const timestamp = this.decodeTimestampIn(r)
    const len = decodeVarint(r)
    if (len > ID_SIZE) throw new NegentropyError("bound id prefix is longer than 32 bytes")
    return { timestamp, id: r.bytes(len) }
  }

  private decodeTimestampIn(r: Reader): number {
    const raw = decodeVarint(r)
    const t = raw === 0 ? INFINITY : raw - 1
    if (this.lastTimestampIn === INFINITY || t === INFINITY) {
      this.lastTimestampIn = INFINITY
      return INFINITY
    }
    this.lastTimestampIn += t
    return this.lastTimestampIn
  }
}

// ---------------------------------------------------------------- messages as data

/** One range of a message: it covers [previous range's upper bound, upper). */
export type Range =
  | { readonly upper: Bound; readonly mode: "skip" }
  | { readonly upper: Bound; readonly mode: "fingerprint"; readonly fingerprint: Uint8Array }
  | { readonly upper: Bound; readonly mode: "ids"; readonly ids: ReadonlyArray<Uint8Array> }

export const MIN_BOUND: Bound = { timestamp: 0, id: new Uint8Array(0) }
export const MAX_BOUND: Bound = { timestamp: INFINITY, id: new Uint8Array(0) }

export const compareBounds = (a: Bound, b: Bound): number =>
  a.timestamp !== b.timestamp ? (a.timestamp < b.timestamp ? -1 : 1) : compareBytes(a.id, b.id)

/**
 * A whole message as its list of ranges (for a party that relays messages
 * between two responders rather than holding records itself). Throws
 * NegentropyError on a malformed message or another protocol version.
 */
export const decodeMessage = (bytes: Uint8Array): ReadonlyArray<Range> => {
  const r = new Reader(bytes)
  const version = r.byte()
  if (version !== PROTOCOL_VERSION) throw new NegentropyError(`unsupported negentropy protocol version 0x${version.toString(16)}`)
  const ranges: Array<Range> = []
  let last = 0
  while (!r.done) {
    const raw = decodeVarint(r)
    const timestamp = raw === 0 || last === INFINITY ? INFINITY : last + raw - 1
    last = timestamp
    const len = decodeVarint(r)
    if (len > ID_SIZE) throw new NegentropyError("bound id prefix is longer than 32 bytes")
    const upper = { timestamp, id: r.bytes(len) }
    const mode = decodeVarint(r)
    if (mode === Mode.Skip) ranges.push({ upper, mode: "skip" })
    else if (mode === Mode.Fingerprint) ranges.push({ upper, mode: "fingerprint", fingerprint: r.bytes(FINGERPRINT_SIZE) })
    else if (mode === Mode.IdList) {
      const count = decodeVarint(r)
      const ids: Array<Uint8Array> = []
      for (let i = 0; i < count; i++) ids.push(r.bytes(ID_SIZE))
      ranges.push({ upper, mode: "ids", ids })
    } else throw new NegentropyError(`unexpected range mode ${mode}`)
  }
  return ranges
}

export const encodeMessage = (ranges: ReadonlyArray<Range>): Uint8Array => {
  const w = new Writer()
  w.byte(PROTOCOL_VERSION)
  let last = 0
  for (const range of ranges) {
    const t = range.upper.timestamp
    if (t === INFINITY) w.bytes(encodeVarint(0))
    else {
      if (last === INFINITY || t < last) throw new NegentropyError("ranges must be in ascending order")
      w.bytes(encodeVarint(t - last + 1))
    }
    last = t
    w.bytes(encodeVarint(range.upper.id.length))
    w.bytes(range.upper.id)
    if (range.mode === "skip") w.bytes(encodeVarint(Mode.Skip))
    else if (range.mode === "fingerprint") {
      w.bytes(encodeVarint(Mode.Fingerprint))
      w.bytes(range.fingerprint)
    } else {
      w.bytes(encodeVarint(Mode.IdList))
      w.bytes(encodeVarint(range.ids.length))
      for (const id of range.ids) w.bytes(id)
    }
  }
  return w.result()
}

/** The shortest bound that separates `prev` from `curr` (curr's timestamp, and an id prefix when they share it). */
const minimalBound = (prev: Item, curr: Item): Bound => {
  if (curr.timestamp !== prev.timestamp) return { timestamp: curr.timestamp, id: new Uint8Array(0) }
  let shared = 0
  while (shared < ID_SIZE && curr.id[shared] === prev.id[shared]) shared++
  return { timestamp: curr.timestamp, id: curr.id.subarray(0, shared + 1) }
}

export const hexToBytes = (hex: string): Uint8Array => {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new NegentropyError("message is not hex")
  return Uint8Array.from(Buffer.from(hex, "hex"))
}
export const bytesToHex = (b: Uint8Array): string => Buffer.from(b).toString("hex")
