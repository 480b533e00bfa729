// The progress line, on stderr so the table on stdout stays clean. On a
// terminal it rewrites one line; elsewhere (CI logs) it prints a line per step.

const tty = process.stderr.isTTY === true
let last = ''
let started = Date.now()

export function resetClock (): void {
  started = Date.now()
}

export function progress (text: string): void {
  const line = `[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${text}`
  if (tty) {
    const width = process.stderr.columns ?? 100
    process.stderr.write(`\r\x1b[2K${line.slice(0, width - 1)}`)
  } else if (text !== last) {
    process.stderr.write(`${line}\n`)
  }
  last = text
}

export function progressDone (): void {
  if (tty && last !== '') process.stderr.write('\r\x1b[2K')
  last = ''
}
