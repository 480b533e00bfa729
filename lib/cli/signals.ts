// Signals whose default action ends a process must end locksmith as they end
// flock(1), killed by that very signal (a shell then reports 128+N). Node
// changes three of them at startup: SIGUSR1 opens its inspector on
// 127.0.0.1:9229 and carries on, SIGPIPE and SIGXFSZ are ignored. Every
// other terminating signal already has its default action in Node.
// Installed first thing, so a signal that arrives while locksmith waits for
// the lock ends it, holding nothing, having run nothing; while a command runs,
// the signals locksmith forwards to it (lib/cli/child.ts) are left alone.

import { constants } from 'node:os'

/** The signals Node does not leave at their default (terminating) action. */
export const RESTORED_SIGNALS: readonly NodeJS.Signals[] = ['SIGUSR1', 'SIGPIPE', 'SIGXFSZ']

/** Signals currently passed on to a running command instead. */
const forwarding = new Set<NodeJS.Signals>()

function dieBy (signal: NodeJS.Signals): void {
  if (forwarding.has(signal)) return
  // With no listener left, libuv restores the default action; raising the
  // signal again then ends the process by it.
  process.removeAllListeners(signal)
  process.kill(process.pid, signal)
  // Should the default action not end the process (never seen), exit as a shell would report it.
  setTimeout(() => process.exit(128 + (constants.signals[signal] ?? 0)), 100)
}

let installed = false

export function restoreDefaultSignals (): void {
  if (installed) return
  installed = true
  for (const signal of RESTORED_SIGNALS) {
    if (process.platform === 'win32' && signal !== 'SIGUSR1') continue
    try { process.on(signal, () => dieBy(signal)) } catch { /* a signal this platform lacks */ }
  }
}

/** While a command runs, these signals go to it (lib/cli/child.ts) rather than ending locksmith. */
export function forwardWhile (signals: readonly NodeJS.Signals[]): () => void {
  for (const signal of signals) forwarding.add(signal)
  return () => { for (const signal of signals) forwarding.delete(signal) }
}
