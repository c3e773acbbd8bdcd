/**
 * JSON-lines files: lines come back exactly (CRLF, no final newline, UTF-8 split across chunks),
 * gzip and zstd are recognised by their bytes whatever the name, written by the name, and a
 * file that cannot be read or written gets a message naming it.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PassThrough } from "node:stream"
import { gunzipSync, gzipSync } from "node:zlib"
import * as zlib from "node:zlib"
import { describe, expect, it } from "vitest"
import { compressionOf, readLines, writeLines, type LineSource } from "../../src/client/jsonLines.ts"

const dir = mkdtempSync(join(tmpdir(), "parrhesia-jsonl-"))
const all = async (s: LineSource) => {
  const out: Array<string> = []
  for await (const b of s.batches) out.push(...b)
  return out
}
const zstd = zlib as unknown as { zstdCompressSync: (b: Buffer) => Buffer; zstdDecompressSync: (b: Buffer) => Buffer }

describe("readLines", () => {
  const lines = ['{"a":1}', "", "héllo wörld 😀 中文", '{"b":"\\n"}', "last without newline"]
  const text = lines.slice(0, -1).join("\r\n") + "\r\n" + lines.at(-1)

  it("gives every line, without its line end, from a plain, a gzip and a zstd file (by their bytes, whatever the name)", async () => {
    const files = {
      plain: Buffer.from(text),
      gzip: gzipSync(Buffer.from(text)),
      zstd: zstd.zstdCompressSync(Buffer.from(text))
    }
    for (const [kind, bytes] of Object.entries(files)) {
      const path = join(dir, `in-${kind}.jsonl`)
      writeFileSync(path, bytes)
      const src = await readLines(path)
      expect(src.size).toBe(bytes.length)
      expect(await all(src)).toEqual(lines)
      expect(src.bytesRead()).toBe(bytes.length)
    }
  })

  it("reads stdin ('-') with multi-byte characters split across chunks, and an empty input", async () => {
    const stdin = new PassThrough()
    const src = readLines("-", stdin)
    const bytes = Buffer.from(text)
    // Feed a byte at a time around the emoji, so a character is split between chunks.
    setImmediate(() => {
      for (let i = 0; i < bytes.length; i += 7) stdin.write(bytes.subarray(i, i + 7))
      stdin.end()
    })
    const s = await src
    expect(s.name).toBe("stdin")
    expect(s.size).toBeUndefined()
    expect(await all(s)).toEqual(lines)

    const empty = new PassThrough()
    empty.end()
    expect(await all(await readLines("-", empty))).toEqual([])
  })

  it("names the file it cannot read", async () => {
    await expect(readLines(join(dir, "missing.jsonl"))).rejects.toThrow(/cannot read .*missing\.jsonl: no such file/)
    await expect(readLines(dir)).rejects.toThrow(/is a folder/)
    const broken = join(dir, "broken.jsonl.gz")
    writeFileSync(broken, gzipSync(Buffer.from(text)).subarray(0, 20))
    await expect(all(await readLines(broken))).rejects.toThrow(/broken\.jsonl\.gz.*damaged or truncated/)
  })
})

describe("writeLines", () => {
  it("compresses by the file's name and waits for the stream to take more", async () => {
    expect([compressionOf("a.jsonl"), compressionOf("a.jsonl.gz"), compressionOf("a.ZST")]).toEqual(["none", "gzip", "zstd"])
    const chunk = Array.from({ length: 1000 }, (_, i) => `{"n":${i},"pad":"${"x".repeat(100)}"}`).join("\n") + "\n"
    for (const name of ["out.jsonl", "out.jsonl.gz", "out.jsonl.zst"]) {
      const path = join(dir, name)
      const sink = await writeLines(path)
      for (let i = 0; i < 20; i++) await sink.write(chunk)
      await sink.close()
      const raw = readFileSync(path)
      const back = name.endsWith(".gz") ? gunzipSync(raw) : name.endsWith(".zst") ? zstd.zstdDecompressSync(raw) : raw
      expect(back.toString()).toBe(chunk.repeat(20))
      if (name !== "out.jsonl") expect(raw.length).toBeLessThan(back.length / 5)
    }
  })

  it("fails at once, naming the file, when it cannot be created", async () => {
    await expect(writeLines(join(dir, "no", "such", "folder.jsonl"))).rejects.toThrow(/cannot write .*folder\.jsonl/)
  })

  it("stops quietly when the reader of stdout goes away (export | head)", async () => {
    const stdout = new PassThrough()
    const sink = await writeLines(undefined, stdout)
    stdout.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }))
    await sink.write("x\n")
    expect(sink.closedByReader()).toBe(true)
    await sink.close()
  })
})
