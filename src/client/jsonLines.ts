/**
 * JSON-lines files for `parrhesia export` and `import` (one event a line, as
 * `strfry export` writes them), read and written as streams so memory stays
 * flat whatever the size:
 * - reading pulls chunks only as fast as the caller asks for lines (a paused
 *   importer pauses the file), decompresses gzip and zstd recognised by their
 *   magic bytes (a file, or `-` for stdin), and counts the raw bytes read so a
 *   progress bar can tell how far into a file it is;
 * - writing compresses by the file name (`.gz`, `.zst`) and waits for the
 *   stream to drain when its buffer is full.
 * zstd needs Node's zlib zstd (Node 22.15+ / 23.8+); without it a `.zst` file
 * gets a clear error, never a silently uncompressed file.
 */
import { createReadStream, createWriteStream, statSync, type ReadStream } from "node:fs"
import { once } from "node:events"
import { pipeline, type Readable, type Transform, type Writable } from "node:stream"
import { StringDecoder } from "node:string_decoder"
import * as zlib from "node:zlib"

/** A file that cannot be opened, read or written: the message names it. */
export class JsonLinesError extends Error {}

type Compression = "gzip" | "zstd" | "none"

const zstdAvailable = () => typeof (zlib as { createZstdDecompress?: unknown }).createZstdDecompress === "function"

const decompressor = (c: Compression, name: string): Transform | undefined => {
  if (c === "gzip") return zlib.createGunzip()
  if (c === "zstd") {
    if (!zstdAvailable()) throw new JsonLinesError(`${name} is zstd-compressed, which this Node (${process.version}) cannot read; decompress it first (zstd -d)`)
    return (zlib as unknown as { createZstdDecompress: () => Transform }).createZstdDecompress()
  }
  return undefined
}

const sniff = (head: Buffer): Compression =>
  head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b
    ? "gzip"
    : head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd
      ? "zstd"
      : "none"

/** The stream's first bytes, put back; null when it is empty. */
const peek = async (s: Readable): Promise<Buffer | null> => {
  for (;;) {
    const b = s.read() as Buffer | null
    if (b !== null) {
      s.unshift(b)
      return b
    }
    if (s.readableEnded) return null
    await Promise.race([once(s, "readable"), once(s, "end")])
  }
}

export interface LineSource {
  /** Batches of lines (without their line ends), in order; the first line is line 1. */
  readonly batches: AsyncIterable<ReadonlyArray<string>>
  /** Raw (possibly compressed) bytes read so far. */
  readonly bytesRead: () => number
  /** The raw size when known (a regular file); undefined for stdin and pipes. */
  readonly size: number | undefined
  /** What the lines come from: the file's path or "stdin". */
  readonly name: string
}

const READ_CHUNK = 1 << 20

/** Lines of `path` ("-": stdin), decompressed when gzip or zstd. Fails at once when the file cannot be opened. */
export const readLines = async (path: string, stdin: Readable = process.stdin): Promise<LineSource> => {
  const name = path === "-" ? "stdin" : path
  let size: number | undefined
  let raw: Readable
  if (path === "-") raw = stdin
  else {
    try {
      const st = statSync(path)
      if (st.isDirectory()) throw new JsonLinesError(`${path} is a folder, not a file`)
      if (st.isFile()) size = st.size
    } catch (e) {
      if (e instanceof JsonLinesError) throw e
      throw new JsonLinesError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (e as Error).message}`)
    }
    raw = createReadStream(path, { highWaterMark: READ_CHUNK })
    await new Promise<void>((resolve, reject) => {
      raw.once("open", () => resolve())
      raw.once("error", (e) => reject(new JsonLinesError(`cannot read ${path}: ${e.message}`)))
    })
  }
  let head: Buffer | null
  try {
    head = await peek(raw)
  } catch (e) {
    throw new JsonLinesError(`cannot read ${name}: ${(e as Error).message}`)
  }
  const codec = head === null ? undefined : decompressor(sniff(head), name)
  // Piped: the decompressor's full buffer pauses the file, so reading follows the caller's pace.
  const text: Readable = codec === undefined ? raw : pipeline(raw, codec, () => {})

  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const c of text as AsyncIterable<Buffer>) yield c
    } catch (e) {
      const hint = codec !== undefined ? " (a damaged or truncated compressed file?)" : ""
      throw new JsonLinesError(`cannot read ${name}: ${(e as Error).message}${hint}`)
    }
  }

  async function* lines(): AsyncGenerator<ReadonlyArray<string>> {
    const decoder = new StringDecoder("utf8")
    let rest = ""
    for await (const c of chunks()) {
      const text = rest + decoder.write(c)
      const parts = text.split("\n")
      rest = parts.pop()!
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!
        if (p.endsWith("\r")) parts[i] = p.slice(0, -1)
      }
      if (parts.length > 0) yield parts
    }
    const last = rest + decoder.end()
    if (last !== "") yield [last.endsWith("\r") ? last.slice(0, -1) : last]
  }

  // A file stream counts what it read; stdin has no size to compare with anyway.
  const bytesRead = () => (raw as Partial<ReadStream>).bytesRead ?? 0
  return { batches: lines(), bytesRead, size, name }
}

export interface LineSink {
  /** Writes `text` (whole lines, each ending with "\n"); resolves when the stream can take more. */
  readonly write: (text: string) => Promise<void>
  /** Flushes, ends the compression and closes the file. */
  readonly close: () => Promise<void>
  /** Set when the reader went away (stdout closed: `export | head`). */
  readonly closedByReader: () => boolean
}

/** What the output's name asks for: gzip for `.gz`, zstd for `.zst`, else plain text. */
export const compressionOf = (path: string): Compression => (/\.gz$/i.test(path) ? "gzip" : /\.zst$/i.test(path) ? "zstd" : "none")

/**
 * A sink writing to `path` (undefined: stdout), compressed by its name. The file is created (or
 * truncated) at once, so a path that cannot be written fails before any work is done.
 */
export const writeLines = async (path: string | undefined, stdout: Writable = process.stdout): Promise<LineSink> => {
  const compression = path === undefined ? "none" : compressionOf(path)
  if (compression === "zstd" && !zstdAvailable()) {
    throw new JsonLinesError(`${path} asks for zstd, which this Node (${process.version}) cannot write; use .gz or no compression`)
  }
  let target: Writable
  if (path === undefined) target = stdout
  else {
    const file = createWriteStream(path)
    await new Promise<void>((resolve, reject) => {
      file.once("open", () => resolve())
      file.once("error", (e) => reject(new JsonLinesError(`cannot write ${path}: ${e.message}`)))
    })
    target = file
  }
  let failure: Error | undefined
  let readerGone = false
  target.on("error", (e: NodeJS.ErrnoException) => {
    if (path === undefined && e.code === "EPIPE") readerGone = true
    else failure ??= new JsonLinesError(`cannot write ${path ?? "stdout"}: ${e.message}`)
  })
  const codec: Writable | undefined =
    compression === "gzip"
      ? zlib.createGzip()
      : compression === "zstd"
        ? (zlib as unknown as { createZstdCompress: () => Writable }).createZstdCompress()
        : undefined
  if (codec !== undefined) {
    codec.on("error", (e) => (failure ??= new JsonLinesError(`cannot compress ${path}: ${e.message}`)))
    ;(codec as unknown as Readable).pipe(target)
  }
  const head = codec ?? target
  /** Until the stream takes more; also on an error or close (a destroyed stream never drains). */
  const drained = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        head.off("drain", done)
        target.off("error", done)
        target.off("close", done)
        resolve()
      }
      head.on("drain", done)
      target.on("error", done)
      target.on("close", done)
    })
  const check = () => {
    if (failure !== undefined) throw failure
  }
  return {
    write: async (text) => {
      check()
      if (readerGone) return
      if (!head.write(text)) await drained()
      check()
    },
    close: async () => {
      check()
      if (readerGone) return
      if (path === undefined) {
        if (codec !== undefined) {
          codec.end()
          await once(codec, "end").catch(() => undefined)
        }
        // stdout is never ended: wait until what was written is handed to the OS.
        await new Promise<void>((resolve) => (target.writableNeedDrain ? target.once("drain", () => resolve()) : resolve()))
      } else {
        head.end()
        if (!target.writableFinished) await once(target, "finish")
        await new Promise<void>((resolve) => (target as unknown as { close: (cb: () => void) => void }).close(() => resolve()))
      }
      check()
    },
    closedByReader: () => readerGone
  }
}
