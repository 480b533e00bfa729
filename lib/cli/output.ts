// Messages in the form command-line tools use: `locksmith: <what>: <reason>`.
import { getSystemErrorMap } from 'node:util'

export const PROGRAM = 'locksmith'

/** strerror-like text for a system error, else the error's message. */
export function reason (error: unknown): string {
  const coded = error as NodeJS.ErrnoException | null
  if (typeof coded?.errno === 'number') {
    const entry = getSystemErrorMap().get(coded.errno < 0 ? coded.errno : -coded.errno)
    if (entry !== undefined) return entry[1].charAt(0).toUpperCase() + entry[1].slice(1)
  }
  if (typeof coded?.code === 'string' && /^E[A-Z]+$/.test(coded.code)) {
    for (const [, [name, message]] of getSystemErrorMap()) {
      if (name === coded.code) return message.charAt(0).toUpperCase() + message.slice(1)
    }
  }
  return error instanceof Error ? error.message : String(error)
}

export function warn (message: string): void {
  process.stderr.write(`${PROGRAM}: ${message}\n`)
}
