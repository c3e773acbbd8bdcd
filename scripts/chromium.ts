/**
 * Headless Chromium for the scripts that take pictures (soak.ts's charts, status-screenshot.ts):
 * @sparticuz/chromium's browser driven by puppeteer-core, both devDependencies, loaded when called.
 */
import { mkdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** A headless browser (close it when done). */
export const launchChromium = async () => {
  const { default: chromium } = await import("@sparticuz/chromium")
  const { default: puppeteer } = await import("puppeteer-core")
  const dir = join(tmpdir(), "parrhesia-chromium")
  mkdirSync(dir, { recursive: true })
  const saved = process.env["TMPDIR"]
  process.env["TMPDIR"] = dir // it unpacks the browser into $TMPDIR: a folder of its own
  const executablePath = await chromium.executablePath()
  if (saved === undefined) delete process.env["TMPDIR"]
  else process.env["TMPDIR"] = saved
  return puppeteer.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
  })
}
